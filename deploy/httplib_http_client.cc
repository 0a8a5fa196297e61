#include "deploy/httplib_http_client.h"

#include <httplib.h>

#include <chrono>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/string_view.h"

namespace slipway::deploy {
namespace {

struct Url {
  std::string scheme;  // http or https
  std::string host;    // without port or brackets, lower case
  int port = 0;        // 0: none given
  std::string origin;  // scheme://host[:port]
  std::string target;  // /path?query, "/" when empty
  std::string user, password;
  bool has_userinfo = false;
};

std::string PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && absl::ascii_isxdigit(s[i + 1]) &&
        absl::ascii_isxdigit(s[i + 2])) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

absl::StatusOr<Url> SplitUrl(const std::string& url) {
  Url out;
  absl::string_view rest = url;
  std::string scheme;
  if (absl::StartsWithIgnoreCase(rest, "http://")) scheme = "http";
  if (absl::StartsWithIgnoreCase(rest, "https://")) scheme = "https";
  if (scheme.empty()) return absl::InvalidArgumentError("only http:// and https:// URLs are supported");
  rest.remove_prefix(scheme.size() + 3);
  size_t end = rest.find_first_of("/?#");
  absl::string_view authority = rest.substr(0, end);
  absl::string_view target = end == absl::string_view::npos ? "" : rest.substr(end);
  if (size_t hash = target.find('#'); hash != absl::string_view::npos) target = target.substr(0, hash);
  if (size_t at = authority.rfind('@'); at != absl::string_view::npos) {
    absl::string_view userinfo = authority.substr(0, at);
    size_t colon = userinfo.find(':');
    out.user = PercentDecode(userinfo.substr(0, colon));
    if (colon != absl::string_view::npos) out.password = PercentDecode(userinfo.substr(colon + 1));
    out.has_userinfo = true;
    authority.remove_prefix(at + 1);
  }
  if (authority.empty()) return absl::InvalidArgumentError("the URL has no host");
  absl::string_view host = authority, port;
  if (host.front() == '[') {
    size_t close = host.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("the URL's host has no closing ]");
    port = host.substr(close + 1);
    host = host.substr(1, close - 1);
  } else if (size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    port = host.substr(colon);
    host = host.substr(0, colon);
  }
  if (!port.empty()) {
    if (port.front() != ':' || !absl::SimpleAtoi(port.substr(1), &out.port) || out.port < 1 ||
        out.port > 65535) {
      return absl::InvalidArgumentError("the URL's port is not a number from 1 to 65535");
    }
  }
  if (host.empty()) return absl::InvalidArgumentError("the URL has no host");
  out.scheme = scheme;
  out.host = absl::AsciiStrToLower(host);
  for (char c : authority) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\\') {
      return absl::InvalidArgumentError("the URL's host contains a space or control character");
    }
  }
  out.origin = absl::StrCat(scheme, "://", authority);
  out.target = target.empty() || target.front() == '?' ? absl::StrCat("/", target) : std::string(target);
  for (char c : out.target) {
    if (static_cast<unsigned char>(c) <= ' ') {
      return absl::InvalidArgumentError("the URL's path contains a space or control character");
    }
  }
  return out;
}

// `url` with any user:password@ in it replaced by ***@, for messages.
std::string WithoutCredentials(const std::string& url) {
  size_t scheme = url.find("://");
  size_t from = scheme == std::string::npos ? 0 : scheme + 3;
  size_t end = url.find_first_of("/?#", from);
  size_t at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < from) return url;
  return absl::StrCat(url.substr(0, from), "***", url.substr(at));
}

// Whether `host` is reached directly by the no_proxy list `list`.
bool NoProxy(const std::string& host, absl::string_view list) {
  for (absl::string_view entry : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    std::string e = absl::AsciiStrToLower(absl::StripAsciiWhitespace(entry));
    if (e == "*") return true;
    if (!e.empty() && e.front() == '.') e.erase(0, 1);
    if (e.empty()) continue;
    if (host == e || absl::EndsWith(host, "." + e)) return true;
  }
  return false;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

HttplibHttpClient::HttplibHttpClient(HttpClientOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock) {
  static const RealClock kSystemClock;
  if (clock_ == nullptr) clock_ = &kSystemClock;
}

HttpClientOptions HttpClientOptions::FromEnvironment() {
  HttpClientOptions o;
  o.http_proxy = Env("http_proxy");
  o.https_proxy = Env("https_proxy");
  if (o.https_proxy.empty()) o.https_proxy = Env("HTTPS_PROXY");
  o.no_proxy = Env("no_proxy");
  if (o.no_proxy.empty()) o.no_proxy = Env("NO_PROXY");
  return o;
}

absl::StatusOr<HttpResponse> HttplibHttpClient::Send(const HttpRequest& request) {
  // Messages end up in run events and logs: they never repeat credentials from the URL.
  auto failed = [&](absl::StatusCode code, absl::string_view why) {
    return absl::Status(code,
                        absl::StrCat(request.method, " ", WithoutCredentials(request.url), ": ", why));
  };
  absl::StatusOr<Url> url = SplitUrl(request.url);
  if (!url.ok()) return failed(absl::StatusCode::kInvalidArgument, url.status().message());
  httplib::Client client(url->origin);
  if (!client.is_valid()) return failed(absl::StatusCode::kInvalidArgument, "the URL's host or port is not valid");
  const auto timeout = std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(request.timeout)));
  const absl::Time deadline = clock_->Now() + request.timeout;
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_keep_alive(false);
  client.set_follow_location(false);
  client.enable_server_certificate_verification(true);
  if (!options_.ca_file.empty()) client.set_ca_cert_path(options_.ca_file.c_str());
  if (url->has_userinfo) client.set_basic_auth(url->user, url->password);
  const std::string& proxy = url->scheme == "https" ? options_.https_proxy : options_.http_proxy;
  if (!proxy.empty() && !NoProxy(url->host, options_.no_proxy)) {
    absl::StatusOr<Url> p = SplitUrl(proxy);
    if (!p.ok() || p->scheme != "http") {
      // The proxy URL is not repeated: it may carry credentials.
      return failed(absl::StatusCode::kInvalidArgument,
                    absl::StrCat("the ", url->scheme, " proxy is not an http:// URL with a host"));
    }
    client.set_proxy(p->host, p->port == 0 ? 1080 : p->port);
    if (p->has_userinfo) client.set_proxy_basic_auth(p->user, p->password);
  }

  httplib::Request req;
  req.method = request.method;
  req.path = url->target;
  for (const auto& [k, v] : request.headers) req.headers.emplace(k, v);
  if (request.method != "GET" && request.method != "DELETE") req.body = request.body;
  HttpResponse response;
  bool timed_out = false;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (clock_->Now() > deadline) {
      timed_out = true;
      return false;
    }
    size_t keep = std::min(n, kMaxBody - response.body.size());
    response.body.append(data, keep);
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  if (!client.send(req, res, error)) {
    if (timed_out) return failed(absl::StatusCode::kUnavailable, "timed out");
    std::string why = httplib::to_string(error);
    if (error == httplib::Error::SSLServerVerification) {
      why = "the server's TLS certificate is not trusted";
    } else if (error == httplib::Error::SSLLoadingCerts) {
      why = "cannot load the trusted certificates";
    } else if (error == httplib::Error::Read && clock_->Now() >= deadline) {
      why = "timed out";
    }
    return failed(absl::StatusCode::kUnavailable, why);
  }
  response.status = res.status;
  return response;
}

}  // namespace slipway::deploy
