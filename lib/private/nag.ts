import { Stack } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * The text cdk-nag uses for a resource in a finding id such as
 * `AwsSolutions-IAM5[Resource::<Table1234.Arn>/index/*]`: `value` resolved in the stack of
 * `scope` and flattened the way cdk-nag's `flattenCfnReference` does (Ref -> `<X>`,
 * GetAtt -> `<X.Attr>`, Join concatenated).
 *
 * It is computed at construction time, so a value that CDK only rewrites during synthesis (a
 * reference to another stack's resource) comes out differently from what cdk-nag later sees;
 * the acknowledgement then simply does not match and the finding stays visible. It can only
 * fail safe, never suppress something else.
 */
export function nagResourceText(scope: IConstruct, value: string): string {
  return flatten(Stack.of(scope).resolve(value));
}

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    if (Array.isArray(o['Fn::Join'])) {
      const [delimiter, items] = o['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(delimiter);
    }
    if (o['Fn::Sub'] !== undefined) return flatten(o['Fn::Sub']);
    if (Array.isArray(o['Fn::GetAtt'])) {
      const [resource, attribute] = o['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (o['Fn::ImportValue'] !== undefined) return flatten(o['Fn::ImportValue']);
    if (o.Ref !== undefined) return `<${flatten(o.Ref)}>`;
  }
  return JSON.stringify(node);
}
