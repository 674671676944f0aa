import type { Command } from 'commander';
import { registerAppliance } from './appliance.ts';
import { registerArtefacts } from './artefacts.ts';
import { registerBuild } from './build.ts';
import { registerCluster } from './cluster.ts';
import { registerHosts } from './hosts.ts';
import { registerKit } from './kit.ts';
import { registerLab } from './lab.ts';
import { registerPreflight } from './preflight.ts';
import { registerServe } from './serve.ts';
import { registerTrial } from './trial.ts';
import { registerValidate } from './validate.ts';
import { registerVersion } from './version.ts';

/** Every top-level command; each module adds its own subcommand with its own --help. */
export function registerCommands(program: Command): void {
  registerAppliance(program);
  registerArtefacts(program);
  registerBuild(program);
  registerCluster(program);
  registerHosts(program);
  registerKit(program);
  registerLab(program);
  registerPreflight(program);
  registerServe(program);
  registerTrial(program);
  registerValidate(program);
  registerVersion(program);
}
