import { CreateTableCommand, ResourceInUseException, waitUntilTableExists, type CreateTableCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Creates a table (tests, local mode: in AWS the CDK constructs own the tables) unless it exists,
 * then waits until it is ACTIVE: DynamoDB, DynamoDB Local and dynalite all create tables
 * asynchronously. The one way every store's `ensure…Table` makes its table.
 */
export async function createTableIfMissing(client: DynamoDBClient, input: CreateTableCommandInput & { TableName: string }): Promise<void> {
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { TableName: input.TableName });
}
