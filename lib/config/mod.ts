/**
 * ijrctl's configuration file: one worker, or several named contexts.
 * @module
 */

export {
  type ClientConfig,
  type ConfigContext,
  type ConfigFile,
  type ConfigOverrides,
  configPath,
  loadClientConfig,
  readConfigFile,
  readTlsFiles,
  resolveContext,
  selectContext,
  SINGLE_CONTEXT_NAME,
} from "./client_config.ts";
export { setCurrentContext } from "./current_context.ts";
