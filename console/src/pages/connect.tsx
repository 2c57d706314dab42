import { PageHeader } from '../ui';

export function ConnectPage() {
  return <PageHeader title="ConnectPage" ></PageHeader>;
}
