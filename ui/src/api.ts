// The API client: generated from slipwayd's protos (protoc-gen-es), spoken with the Connect
// protocol to the same origin that served the page. The token lives in sessionStorage only and
// goes out as a Bearer header: never in a URL, never in a cookie.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { AdminService, Scope, type ServerInfo } from "./gen/slipway/v1/admin_service_pb";
import { DeliveryService } from "./gen/slipway/v1/delivery_service_pb";
import { PipelineService } from "./gen/slipway/v1/pipeline_service_pb";
import { PreviewService } from "./gen/slipway/v1/preview_pb";
import { ReleaseService } from "./gen/slipway/v1/release_service_pb";

const TOKEN_KEY = "slipway.token";

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}
export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

const bearer: Interceptor = (next) => async (req) => {
  const token = storedToken();
  if (token) req.header.set("Authorization", `Bearer ${token}`);
  // Recorded with pipeline revisions and in the audit trail as the dashboard.
  req.header.set("Slipway-Client", "dashboard");
  return next(req);
};

const transport = createConnectTransport({
  baseUrl: window.location.origin,
  interceptors: [bearer],
});

export const api = {
  admin: createClient(AdminService, transport),
  pipelines: createClient(PipelineService, transport),
  releases: createClient(ReleaseService, transport),
  previews: createClient(PreviewService, transport),
  deliveries: createClient(DeliveryService, transport),
};

// The calling token's scope, from GetServerInfo: buttons follow it; the server still checks.
export type Session = { info: ServerInfo };

export function canDeploy(s: Session): boolean {
  return s.info.callerScope >= Scope.DEPLOY;
}
export function isAdmin(s: Session): boolean {
  return s.info.callerScope >= Scope.ADMIN;
}
export function scopeName(scope: Scope): string {
  return Scope[scope]?.toLowerCase() ?? "unknown";
}

// "permission_denied: token … may not …": the code as Connect names it, and the message.
export function errorText(e: unknown): string {
  const err = ConnectError.from(e);
  const code = Code[err.code]?.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase() ?? "unknown";
  return `${code}: ${err.rawMessage}`;
}

export function isNotFound(e: unknown): boolean {
  return ConnectError.from(e).code === Code.NotFound;
}

export function isUnauthenticated(e: unknown): boolean {
  return ConnectError.from(e).code === Code.Unauthenticated;
}

export function toDate(t: Timestamp | undefined): Date | undefined {
  if (!t || (t.seconds === 0n && t.nanos === 0)) return undefined;
  return timestampDate(t);
}

// A request id for calls that must not happen twice when a click is retried.
export function requestId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "ui-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
