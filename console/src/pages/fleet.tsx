import { PageHeader } from '../ui';

export function FleetPage() {
  return <PageHeader title="FleetPage" ></PageHeader>;
}
