/** Every workflow the worker registers (the bundle's entry point). */
export { roundTripWorkflow } from './diagnostics';
export { purgeInstalledJobsWorkflow } from './purge';
export { installWorkflow } from './install';
