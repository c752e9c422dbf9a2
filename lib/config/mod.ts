/**
 * ijrctl's configuration file.
 * @module
 */

export {
  type ClientConfig,
  type ConfigOverrides,
  configPath,
  loadClientConfig,
  readTlsFiles,
} from "./client_config.ts";
