/**
 * How the usage pages (Overview, Fleet) write the usage API's figures, and its report types.
 * Every function returns plain text (rendered as a Preact text child).
 */
import type { AdminApi, AnswerOf } from './api';

export type UsageReport = AnswerOf<AdminApi['orgs'][':orgId']['usage']['$get']>;
export type UsageTotals = UsageReport['totals'];
export type UsagePoint = UsageReport['series'][number]['points'][number];

const counts = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const percents = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 2 });
const usd = new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD', minimumFractionDigits: 2, maximumFractionDigits: 4 });

export const formatCount = (n: number): string => counts.format(n);
export const formatRate = (rate: number): string => percents.format(rate);
export const formatUsd = (amount: number): string => usd.format(amount);
/** A latency in ms (the API's are ±1 %): whole ms from 10 ms up, one decimal below. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return `${ms >= 10 ? Math.round(ms) : Math.round(ms * 10) / 10} ms`;
}
