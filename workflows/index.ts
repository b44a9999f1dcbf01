/** Every workflow the worker registers (the bundle's entry point). */
export { roundTripWorkflow } from './diagnostics';
export { installWorkflow } from './install';
export { purgeInstalledJobsWorkflow } from './purge';
export { rolloutWorkflow } from './rollout';
