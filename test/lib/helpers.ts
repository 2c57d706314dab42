import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';

export const ACCOUNT = '123456789012';

/** An app that skips asset bundling (esbuild + npm ci) so Template tests stay fast. */
export function testApp(context: Record<string, unknown> = {}): App {
  return new App({ context: { 'aws:cdk:bundling-stacks': [], ...context } });
}

export function testStack(app: App = testApp(), id = 'Test', region = 'us-east-1'): Stack {
  return new Stack(app, id, { env: { account: ACCOUNT, region } });
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Logical id of the execution role of `fn` (the `Role` of its AWS::Lambda::Function). */
export function roleLogicalIdOf(template: Template, stack: Stack, fn: lambda.IFunction): string {
  const fnId = stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction);
  const role = template.toJSON().Resources[fnId].Properties.Role;
  const [roleId] = role['Fn::GetAtt'] as [string, string];
  return roleId;
}

/** All IAM statements of the AWS::IAM::Policy resources attached to the role `roleId`. */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{
    Properties: { Roles: Array<{ Ref?: string }>; PolicyDocument: { Statement: Statement[] } };
  }>;
  const attached = policies.filter((p) => p.Properties.Roles.some((r) => r.Ref === roleId));
  return attached.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

export function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

/** The statement that grants `action`; fails the test when none or several do. */
export function statementWith(statements: Statement[], action: string): Statement {
  const found = statements.filter((s) => actionsOf(s).includes(action));
  expect(found).toHaveLength(1);
  return found[0];
}
