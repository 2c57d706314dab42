import { PageHeader } from '../ui';

export function OverviewPage() {
  return <PageHeader title="OverviewPage" ></PageHeader>;
}
