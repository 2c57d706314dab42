import { PageHeader } from '../ui';

export function McpsPage({ rest }: { rest: readonly string[] }) {
  return <PageHeader title="McpsPage" >{rest.join('/')}</PageHeader>;
}
