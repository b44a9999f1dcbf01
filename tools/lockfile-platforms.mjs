#!/usr/bin/env node
// Re-adds the lockfile entries of platform-specific optional packages (biome, swc, esbuild … for
// other OSes/CPUs) that npm drops when the registry it resolved against does not serve them.
// Without them `npm ci` refuses the lockfile as out of sync. Each entry is marked optional with its
// os/cpu/libc, so npm skips it on every other platform exactly as it would with a full lockfile.
// Run after `npm install`: node tools/lockfile-platforms.mjs
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const pkgs = lock.packages;

function platformOf(name) {
  const n = name.split('/').pop();
  const os = /darwin/.test(n)
    ? 'darwin'
    : /win32/.test(n)
      ? 'win32'
      : /android/.test(n)
        ? 'android'
        : /freebsd/.test(n)
          ? 'freebsd'
          : /linux/.test(n)
            ? 'linux'
            : undefined;
  const cpu = /arm64|aarch64/.test(n)
    ? 'arm64'
    : /-arm(-|$)|gnueabihf/.test(n)
      ? 'arm'
      : /ia32/.test(n)
        ? 'ia32'
        : /ppc64/.test(n)
          ? 'ppc64'
          : /s390x/.test(n)
            ? 's390x'
            : /riscv64/.test(n)
              ? 'riscv64'
              : /x64/.test(n)
                ? 'x64'
                : undefined;
  const libc = /musl/.test(n) ? 'musl' : os === 'linux' ? 'glibc' : undefined;
  return { os, cpu, libc };
}

let added = 0;
for (const [path, meta] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(meta.optionalDependencies ?? {})) {
    const key = `${path ? `${path}/` : ''}node_modules/${dep}`.replace(/^\//, '');
    const hoisted = `node_modules/${dep}`;
    if (pkgs[key] || pkgs[hoisted]) continue;
    const { os, cpu, libc } = platformOf(dep);
    if (!os) continue;
    pkgs[hoisted] = {
      version,
      optional: true,
      ...(meta.dev ? { dev: true } : {}),
      os: [os],
      ...(cpu ? { cpu: [cpu] } : {}),
      ...(libc && os === 'linux' ? { libc: [libc] } : {}),
    };
    added++;
  }
}
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lockfile: ${added} platform entries added`);
if (process.argv.includes('--check')) execFileSync('npm', ['ci', '--dry-run', '--ignore-scripts'], { stdio: 'inherit' });
