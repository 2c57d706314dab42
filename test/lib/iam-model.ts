import { Template } from 'aws-cdk-lib/assertions';

/**
 * A small model of IAM's evaluation of identity-policy statements for DynamoDB item requests,
 * for checking that the requests the real adapters send are the ones the synthesized policies
 * allow (there is no IAM to ask offline). It covers exactly what PlexMCP's policies use:
 * Allow/Deny, Action and Resource with `*` and `?` wildcards, and the condition operators
 * `ForAllValues:StringEquals`, `ForAllValues:StringLike` and `Null` on the context keys
 * `dynamodb:LeadingKeys` and `dynamodb:Attributes`, with the semantics documented in the
 * DynamoDB developer guide ("Using IAM policy conditions for fine-grained access control") and
 * the IAM reference (ForAllValues is true for an absent or empty key). Anything else in a policy,
 * or a context value the model cannot work out, throws instead of guessing, so the model can
 * refuse too much but cannot silently allow.
 */

export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
  readonly [other: string]: unknown;
}

/** One DynamoDB request as IAM sees it: the action, the resource and the condition context. */
export interface ModelRequest {
  readonly action: string;
  readonly resource: string;
  /** Context keys; undefined when the request does not carry the key. */
  readonly context: {
    readonly 'dynamodb:LeadingKeys'?: string[];
    /** `unknown` when the request names no attributes and returns whole items (GetItem without projection). */
    readonly 'dynamodb:Attributes'?: string[] | 'unknown';
  };
}

/** The ARN the model uses for a table: from its logical id in the template. */
export const modelTableArn = (logicalId: string) => `arn:model:dynamodb:table/${logicalId}`;

/** Statements of every AWS::IAM::Policy attached to the role with logical id `roleId`. */
export function policyOfRole(template: Template, roleId: string): PolicyStatement[] {
  const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Array<{
    Properties: { Roles: Array<{ Ref?: string }>; PolicyDocument: { Statement: PolicyStatement[] } };
  }>;
  return policies.filter((p) => p.Properties.Roles.some((r) => r.Ref === roleId)).flatMap((p) => p.Properties.PolicyDocument.Statement);
}

type AttributeValue = { S?: string; N?: string; [type: string]: unknown };
type Body = Record<string, unknown> & {
  TableName?: string;
  IndexName?: string;
  Key?: Record<string, AttributeValue>;
  Item?: Record<string, AttributeValue>;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
};

const EXPRESSION_WORDS = new Set(
  ['SET', 'REMOVE', 'ADD', 'DELETE', 'AND', 'OR', 'NOT', 'BETWEEN', 'IN', 'attribute_exists', 'attribute_not_exists', 'attribute_type', 'begins_with', 'contains', 'size', 'if_not_exists', 'list_append'].map((w) => w.toLowerCase()),
);

/** Top-level attribute names an expression uses: `#placeholders` resolved, bare names as they are. */
function expressionAttributes(expression: unknown, names: Record<string, string> = {}): string[] {
  if (expression === undefined) return [];
  if (typeof expression !== 'string') throw new Error('model: an expression that is not a string');
  const found: string[] = [];
  const rest = expression
    .replace(/#[A-Za-z0-9_]+/g, (token) => {
      const name = names[token];
      if (name === undefined) throw new Error(`model: ${token} is not in ExpressionAttributeNames`);
      found.push(name);
      return ' ';
    })
    .replace(/:[A-Za-z0-9_]+/g, ' ')
    // Nested paths and list indexes: only the top-level name counts.
    .replace(/\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]/g, ' ');
  for (const word of rest.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) {
    if (!EXPRESSION_WORDS.has(word.toLowerCase())) found.push(word);
  }
  return found;
}

/** The partition key value of a Query, from `#name = :value` in its key condition. */
function queryLeadingKey(body: Body): string[] | undefined {
  const match = /(#[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)/.exec(String(body.KeyConditionExpression ?? ''));
  const value = match ? body.ExpressionAttributeValues?.[match[2]!]?.S : undefined;
  return value === undefined ? undefined : [value];
}

/**
 * The request a DynamoDB JSON-protocol call (`X-Amz-Target: DynamoDB_20120810.<Operation>` and
 * its body) makes of IAM. `tableLogicalId` maps the request's table name to the template.
 */
export function modelRequest(target: string, body: Body, tableLogicalId: (tableName: string) => string, partitionKey = 'pk'): ModelRequest {
  const operation = target.split('.').pop() ?? '';
  if (typeof body.TableName !== 'string') throw new Error(`model: ${operation} without a TableName`);
  const table = modelTableArn(tableLogicalId(body.TableName));
  const resource = body.IndexName === undefined ? table : `${table}/index/${String(body.IndexName)}`;
  const names = body.ExpressionAttributeNames;
  const unique = (list: string[]) => [...new Set(list)];
  const itemLeadingKey = (key: Record<string, AttributeValue> | undefined) => {
    const value = key?.[partitionKey]?.S;
    if (value === undefined) throw new Error(`model: ${operation} without a string ${partitionKey}`);
    return [value];
  };
  let context: ModelRequest['context'];
  switch (operation) {
    case 'PutItem':
      context = {
        'dynamodb:LeadingKeys': itemLeadingKey(body.Item),
        'dynamodb:Attributes': unique([...Object.keys(body.Item ?? {}), ...expressionAttributes(body.ConditionExpression, names)]),
      };
      break;
    case 'UpdateItem':
    case 'DeleteItem':
      context = {
        'dynamodb:LeadingKeys': itemLeadingKey(body.Key),
        'dynamodb:Attributes': unique([
          ...Object.keys(body.Key ?? {}),
          ...expressionAttributes(body.UpdateExpression, names),
          ...expressionAttributes(body.ConditionExpression, names),
        ]),
      };
      break;
    case 'GetItem':
      context = {
        'dynamodb:LeadingKeys': itemLeadingKey(body.Key),
        'dynamodb:Attributes':
          body.ProjectionExpression === undefined ? 'unknown' : unique([...Object.keys(body.Key ?? {}), ...expressionAttributes(body.ProjectionExpression, names)]),
      };
      break;
    case 'Query':
      context = { 'dynamodb:LeadingKeys': queryLeadingKey(body), 'dynamodb:Attributes': 'unknown' };
      break;
    default:
      // Scan, batch and table-level actions: no item context the model can work out.
      context = { 'dynamodb:Attributes': 'unknown' };
  }
  return { action: `dynamodb:${operation}`, resource, context };
}

/** `*` and `?` wildcards, as in IAM's Action, Resource and StringLike. */
function wildcard(pattern: string, value: string, caseInsensitive = false): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, caseInsensitive ? 'i' : '').test(value);
}

/** A template value (string, Fn::GetAtt of a table's Arn, Fn::Join of those) as a model ARN. */
function resourceText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    if (Array.isArray(o['Fn::GetAtt']) && o['Fn::GetAtt'][1] === 'Arn') return modelTableArn(String(o['Fn::GetAtt'][0]));
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(resourceText).join(delimiter);
    }
    if (o.Ref !== undefined) return `ref:${String(o.Ref)}`;
  }
  throw new Error(`model: cannot read the resource ${JSON.stringify(value)}`);
}

function conditionHolds(condition: PolicyStatement['Condition'], request: ModelRequest): boolean {
  for (const [operator, entries] of Object.entries(condition ?? {})) {
    for (const [key, expected] of Object.entries(entries)) {
      if (key !== 'dynamodb:LeadingKeys' && key !== 'dynamodb:Attributes') throw new Error(`model: condition key ${key} is not modelled`);
      const patterns = [expected].flat().map(String);
      const raw = request.context[key];
      const forAll = (test: (pattern: string, value: string) => boolean) => {
        if (raw === 'unknown') throw new Error(`model: ${request.action} on ${request.resource}: ${key} is not known to the model`);
        return (raw ?? []).every((value) => patterns.some((pattern) => test(pattern, value)));
      };
      let holds: boolean;
      switch (operator) {
        case 'ForAllValues:StringEquals':
          holds = forAll((pattern, value) => pattern === value);
          break;
        case 'ForAllValues:StringLike':
          holds = forAll((pattern, value) => wildcard(pattern, value));
          break;
        case 'Null': {
          if (raw === 'unknown') throw new Error(`model: ${key} of ${request.action} is not known to the model`);
          const absent = raw === undefined || raw.length === 0;
          holds = patterns[0] === 'true' ? absent : !absent;
          break;
        }
        default:
          throw new Error(`model: condition operator ${operator} is not modelled`);
      }
      if (!holds) return false;
    }
  }
  return true;
}

function statementMatches(statement: PolicyStatement, request: ModelRequest): boolean {
  for (const unsupported of ['NotAction', 'NotResource', 'NotPrincipal', 'Principal']) {
    if (statement[unsupported] !== undefined) throw new Error(`model: ${unsupported} is not modelled`);
  }
  const actions = [statement.Action ?? []].flat();
  if (!actions.some((a) => wildcard(a, request.action, true))) return false;
  const resources = [statement.Resource ?? []].flat().map(resourceText);
  if (!resources.some((r) => wildcard(r, request.resource))) return false;
  return conditionHolds(statement.Condition, request);
}

/** Whether the statements allow the request: some Allow matches and no Deny does. */
export function isAllowed(statements: readonly PolicyStatement[], request: ModelRequest): boolean {
  if (statements.some((s) => s.Effect === 'Deny' && statementMatches(s, request))) return false;
  return statements.some((s) => s.Effect === 'Allow' && statementMatches(s, request));
}
