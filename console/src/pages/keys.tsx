import { PageHeader } from '../ui';

export function KeysPage({ rest }: { rest: readonly string[] }) {
  return <PageHeader title="KeysPage" >{rest.join('/')}</PageHeader>;
}
