import { useEffect, useMemo, useState } from 'react';
import { UsageAggregates } from '../components/usage/UsageAggregates';
import { UsageCharts } from '../components/usage/UsageCharts';
import { UsageFilterForm } from '../components/usage/UsageFilterForm';
import { UsageRecords } from '../components/usage/UsageRecords';
import * as adminApi from '../lib/admin-api';
import type { UsageFilters } from '../lib/admin-api';
import type { Org, User } from '../lib/types';

/** Usage (admin): filters, charts, aggregates and records; each section loads its own data. */
export function UsagePage() {
  const [filters, setFilters] = useState<UsageFilters>({});
  const [users, setUsers] = useState<User[]>([]);
  const [orgs, setOrgs] = useState<Org[]>([]);
  const [modelNames, setModelNames] = useState<string[]>([]);

  useEffect(() => {
    adminApi.listUsers().then(setUsers).catch(() => setUsers([]));
    adminApi.listOrgs().then(setOrgs).catch(() => setOrgs([]));
    adminApi
      .listUpstreams()
      .then((u) => setModelNames(u.map((x) => x.served_model_name)))
      .catch(() => setModelNames([]));
  }, []);

  const userName = useMemo(() => new Map(users.map((u) => [String(u.id), u.username])), [users]);
  const orgName = useMemo(() => new Map(orgs.map((o) => [String(o.id), o.name])), [orgs]);

  return (
    <div className="page">
      <h1>Usage</h1>
      <UsageFilterForm filters={filters} onApply={setFilters} users={users} orgs={orgs} modelNames={modelNames} />
      <UsageCharts filters={filters} />
      <UsageAggregates filters={filters} userName={userName} orgName={orgName} />
      <UsageRecords filters={filters} userName={userName} />
    </div>
  );
}

export default UsagePage;
