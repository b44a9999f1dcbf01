/**
 * The layers of DeviceRollout (README "Architecture"); `npm run lint` fails on an import that points
 * up. Lowest first: domain ← workflows ← activities ← services ← api ← wiring (app/, worker/, the
 * entry points). infra/ (production adapters) and omadm/ (the OMA DM protocol) sit beside activities
 * and never reach up; devstack/ (embedded servers) serves only `npm start`, tests and the bench.
 * console/ is browser code (the admin console, bundled by api/console.ts): it reaches the server only
 * over HTTP and shares only domain/'s pure rules and strings (the status names); nothing imports it.
 */
const PRODUCTION = '^(domain|workflows|activities|services|api|app|worker|infra|omadm|migrations)/';
const ENTRY_POINTS = '^(api|worker)/main\\.ts$';

/** A rule: files under `from` may import ours only from `allowed` (node_modules and node: are free). */
const only = (name, from, allowed, comment, extra = {}) => ({
  name,
  comment,
  severity: 'error',
  from: { path: from, pathNot: ENTRY_POINTS },
  to: { path: '^[a-z-]+/', pathNot: `^(${allowed.join('|')})/`, dependencyTypes: ['local'], ...extra },
});

module.exports = {
  forbidden: [
    only('domain-is-pure', '^domain/', ['domain'], 'domain/ holds the pure rules: it imports nothing of ours.'),
    only(
      'workflows-import-domain-and-messages',
      '^workflows/',
      ['domain', 'workflows'],
      'Workflows are deterministic: at run time only domain rules and their own modules (messages.ts).',
      { dependencyTypesNot: ['type-only'] },
    ),
    only(
      'workflows-type-activities-only',
      '^workflows/',
      ['domain', 'workflows', 'activities'],
      "Workflows name their activities with `import type` (as Temporal's samples do): no activity code enters the workflow bundle, and no other layer is typed in.",
    ),
    only(
      'activities-below-services',
      '^activities/',
      ['activities', 'domain', 'infra', 'omadm', 'services'],
      'Activities do I/O through injected ports and the services; never the API, the wiring or the workflows.',
    ),
    only(
      'adapters-never-reach-up',
      '^(infra|omadm)/',
      ['domain', 'infra', 'omadm', 'migrations'],
      'infra/ (production adapters) and omadm/ (the OMA DM protocol) know nothing of the API, services, wiring or workflows.',
    ),
    only(
      'services-below-api',
      '^services/',
      ['services', 'domain', 'infra', 'omadm', 'workflows'],
      'Services are what the API and tools share: they start and signal workflows, never call the API or the wiring.',
    ),
    only(
      'api-is-a-door',
      '^api/',
      ['api', 'services', 'domain', 'infra', 'omadm', 'workflows'],
      'The API parses, calls a service and renders; the wiring happens in app/ and the entry points.',
    ),
    only(
      'console-is-browser-code',
      '^console/',
      ['console', 'domain'],
      "console/ runs in the browser: it talks to the server over the public HTTP API and imports only domain/'s pure rules and strings.",
    ),
    {
      name: 'nothing-imports-the-console',
      comment: 'The console is served as a bundle (api/console.ts builds it by path), never imported (its unit tests aside).',
      severity: 'error',
      from: { pathNot: '^(console|test)/' },
      to: { path: '^console/' },
    },
    {
      name: 'production-never-imports-dev-code',
      comment: 'devstack/, test/, bench/, simulator/ and scripts/ are never part of what is deployed.',
      severity: 'error',
      from: { path: PRODUCTION },
      to: { path: '^(devstack|test|bench|simulator|scripts|tools)/' },
    },
    {
      name: 'no-cycles',
      comment: 'An import cycle hides which module is the lower one.',
      severity: 'error',
      from: {},
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|test-output|\\.data)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
