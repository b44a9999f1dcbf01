/**
 * Custom search attributes: what operators filter by in the Temporal UI
 * (e.g. `RolloutId = "…" AND InstallStatus = "Waiting for download"`).
 * Registered wherever a server is started: the dev server flags (devstack/dev-server.ts),
 * the time-skipping test server, and docker-compose (temporal-admin-tools).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const RolloutId = defineSearchAttributeKey('RolloutId', SearchAttributeType.KEYWORD);
export const DeviceId = defineSearchAttributeKey('DeviceId', SearchAttributeType.KEYWORD);
export const InstallStatus = defineSearchAttributeKey('InstallStatus', SearchAttributeType.KEYWORD);
export const SoftwareVersion = defineSearchAttributeKey('SoftwareVersion', SearchAttributeType.KEYWORD);
export const SoftwareName = defineSearchAttributeKey('SoftwareName', SearchAttributeType.KEYWORD);
export const PushMethod = defineSearchAttributeKey('PushMethod', SearchAttributeType.KEYWORD);
export const RolloutState = defineSearchAttributeKey('RolloutState', SearchAttributeType.KEYWORD);
/** The group of a staged rollout now allowed to start (issue 14). */
export const RolloutGroup = defineSearchAttributeKey('RolloutGroup', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [
  RolloutId,
  DeviceId,
  InstallStatus,
  SoftwareVersion,
  SoftwareName,
  PushMethod,
  RolloutState,
  RolloutGroup,
] as const;

/** `Name=Type` pairs as the Temporal CLI's `--search-attribute` flag and admin tools take them. */
export function searchAttributeFlags(): string[] {
  return ALL_SEARCH_ATTRIBUTES.flatMap((k) => ['--search-attribute', `${k.name}=${cliType(k.type)}`]);
}

function cliType(t: SearchAttributeType): string {
  switch (t) {
    case SearchAttributeType.KEYWORD:
      return 'Keyword';
    case SearchAttributeType.TEXT:
      return 'Text';
    case SearchAttributeType.INT:
      return 'Int';
    case SearchAttributeType.DOUBLE:
      return 'Double';
    case SearchAttributeType.BOOL:
      return 'Bool';
    case SearchAttributeType.DATETIME:
      return 'Datetime';
    default:
      return 'KeywordList';
  }
}
