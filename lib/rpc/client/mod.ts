/**
 * IJR's gRPC client: typed clients for the API's services over IJR's own HTTP/2 client with
 * mutual TLS (channel.ts, calls.ts), and the status codes and errors calls fail with. What
 * ijrctl loads of the RPC layer: no grpc-js, no node:http2, nothing of the server
 * (tests/unit/ctl_module_graph_test.ts checks).
 * @module
 */

export {
  type ClientCallOptions,
  type ClientMethod,
  clientOn,
  createClient,
  type ServiceClient,
} from "./calls.ts";
export { Channel, type ChannelOptions, type ClientTls, parseAddress } from "./channel.ts";
export { Code, codeName, RpcError, statusName, type TlsMaterial } from "../wire/mod.ts";
