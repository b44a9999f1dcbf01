/**
 * The request side of staged rollouts (issue 14): `groups` and `safety` of `POST /rollouts` and
 * `/rollouts/preview` as zod schemas (validation and the OpenAPI document); the rules are domain/groups.ts.
 */
import { z } from 'zod';
import {
  DEFAULT_ERROR_THRESHOLD,
  DEFAULT_MIN_FINISHED,
  DEFAULT_SUCCESS_THRESHOLD,
  GROUP_NAME_MAX,
  GROUP_SIZE_MESSAGE,
  MAX_GROUPS,
  parseGroupSize,
  parseThreshold,
  THRESHOLD_MESSAGE,
} from './groups';

const thresholdSchema = (what: string) =>
  z
    .union([z.number(), z.string()], { error: THRESHOLD_MESSAGE })
    .refine((v) => parseThreshold(v) !== undefined, THRESHOLD_MESSAGE)
    .describe(what);

const GroupRequestSchema = z.strictObject({
  name: z
    .string({ error: 'must be a group name' })
    .trim()
    .min(1, 'must not be empty')
    .max(GROUP_NAME_MAX, `at most ${GROUP_NAME_MAX} characters`),
  devices: z
    .union([z.number(), z.string()], { error: GROUP_SIZE_MESSAGE })
    .refine((v) => parseGroupSize(v) !== undefined, GROUP_SIZE_MESSAGE)
    .optional()
    .describe('A count, or a share of the rollout\'s devices ("20%"); absent: the rest (only the last group).'),
});

export const GroupsRequestSchema = z
  .array(GroupRequestSchema, {
    error: 'must be a list of groups such as [{ "name": "canary", "devices": 10 }, { "name": "rest" }]',
  })
  .min(1, 'give at least one group')
  .max(MAX_GROUPS, `at most ${MAX_GROUPS} groups`)
  .superRefine((groups, ctx) => {
    const seen = new Set<string>();
    for (const [i, g] of groups.entries()) {
      if (g.devices === undefined && i !== groups.length - 1) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'devices'],
          message: 'only the last group may leave out `devices` (it takes the rest)',
        });
      }
      if (seen.has(g.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `group name "${g.name}" is used twice` });
      seen.add(g.name);
    }
  })
  .describe(
    'Ordered groups (G1): the devices in planned order, split by each group\'s `devices` (a count or "20%" of the rollout); a group without `devices` takes the rest and must be the last. Absent: one group of every device.',
  );

export const SafetyRequestSchema = z
  .strictObject({
    successThreshold: thresholdSchema(
      `Share ("90%") or count of a group's jobs that must have succeeded before the next group starts; default ${DEFAULT_SUCCESS_THRESHOLD}.`,
    ).optional(),
    errorThreshold: thresholdSchema(
      `Share ("5%") or count of a group's final jobs failed (Installation failed, Unknown status) that halts the rollout; default ${DEFAULT_ERROR_THRESHOLD}.`,
    ).optional(),
    minFinished: z
      .number({ error: 'must be a whole number ≥ 1' })
      .int('must be a whole number ≥ 1')
      .min(1, 'must be a whole number ≥ 1')
      .max(1_000_000)
      .optional()
      .describe(
        `Final jobs of a group before the error threshold is checked; default ${DEFAULT_MIN_FINISHED} (or the group's size if smaller).`,
      ),
    approval: z
      .enum(['auto', 'manual'], { error: 'must be "auto" or "manual"' })
      .optional()
      .describe('"manual": each group after the first also waits for POST /rollouts/:id/groups/:index/approve; default "auto".'),
  })
  .describe('Success and error thresholds of the groups (G1, G2).');

// Responses (documented in the OpenAPI document)

export const GroupStatusSchema = z
  .object({
    index: z.number().int(),
    name: z.string(),
    total: z.number().int().describe("The group's jobs."),
    started: z.number().int(),
    succeeded: z.number().int().describe('Final with a success status (Installed, Downloaded, … Verified, Not needed).'),
    failed: z.number().int().describe('Installation failed or Unknown status.'),
    state: z
      .enum(['waiting', 'awaiting-approval', 'running', 'done'])
      .describe(
        '`waiting`: the group before has not reached the success threshold; `awaiting-approval`: it has, the group waits for POST …/approve; `running`: may start; `done`: every job final.',
      ),
  })
  .describe('One group of a staged rollout.');

export const GroupWaitSchema = z
  .object({
    group: z.number().int(),
    name: z.string(),
    reason: z.enum(['success-threshold', 'approval']),
    message: z.string(),
  })
  .describe('What the next group waits for.');

export const PreviewGroupSchema = z.object({
  index: z.number().int(),
  name: z.string(),
  total: z.number().int(),
  firstStartAt: z.iso.datetime().nullable().describe('Planned as if every group before it succeeds on time.'),
});
