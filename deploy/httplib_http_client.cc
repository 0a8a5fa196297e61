#include "deploy/httplib_http_client.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace slipway::deploy {
namespace {

struct Url {
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

}  // namespace

absl::StatusOr<HttpResponse> HttplibHttpClient::Send(const HttpRequest& request) {
  auto failed = [&](absl::StatusCode code, absl::string_view why) {
    return absl::Status(code, absl::StrCat(request.method, " ", request.url, ": ", why));
  };
  absl::StatusOr<Url> url = SplitUrl(request.url);
  if (!url.ok()) return failed(absl::StatusCode::kInvalidArgument, url.status().message());
  httplib::Client client(url->origin);
  if (!client.is_valid()) return failed(absl::StatusCode::kInvalidArgument, "the URL's host or port is not valid");
  const auto timeout = std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(request.timeout)));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_keep_alive(false);
  client.set_follow_location(false);
  client.enable_server_certificate_verification(true);
  if (!ca_file_.empty()) client.set_ca_cert_path(ca_file_.c_str());
  if (url->has_userinfo) client.set_basic_auth(url->user, url->password);

  httplib::Request req;
  req.method = request.method;
  req.path = url->target;
  for (const auto& [k, v] : request.headers) req.headers.emplace(k, v);
  if (request.method != "GET" && request.method != "DELETE") req.body = request.body;
  HttpResponse response;
  bool timed_out = false;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (std::chrono::steady_clock::now() > deadline) {
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
    } else if (error == httplib::Error::Read && std::chrono::steady_clock::now() >= deadline) {
      why = "timed out";
    }
    return failed(absl::StatusCode::kUnavailable, why);
  }
  response.status = res.status;
  return response;
}

}  // namespace slipway::deploy
