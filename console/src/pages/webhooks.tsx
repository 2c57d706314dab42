import { PageHeader } from '../ui';

export function WebhooksPage({ rest }: { rest: readonly string[] }) {
  return <PageHeader title="WebhooksPage" >{rest.join('/')}</PageHeader>;
}
