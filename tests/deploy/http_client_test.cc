// The HTTP client that health checks and `http` flow nodes use, against real local servers:
// plain HTTP, and HTTPS with a certificate made by the test.
#include "deploy/httplib_http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "deploy/process_driver.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/certs.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/temp_dir.h"

namespace slipway::deploy {
namespace {

using ::slipway::testing::StatusIs;
using ::testing::HasSubstr;

// A server on 127.0.0.1:<ephemeral> in a thread of its own, stopped when destroyed.
class LocalServer {
 public:
  explicit LocalServer(std::unique_ptr<httplib::Server> server) : server_(std::move(server)) {
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::yield();
  }
  ~LocalServer() {
    server_->stop();
    thread_.join();
  }
  httplib::Server& operator*() { return *server_; }
  std::string Url(const std::string& scheme, const std::string& target) const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + target;
  }

 private:
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpClientTest, SendsTheMethodTargetHeadersAndBodyAndReturnsTheAnswer) {
  auto srv = std::make_unique<httplib::Server>();
  std::string seen;
  srv->Put("/deploy/hook", [&](const httplib::Request& req, httplib::Response& res) {
    seen = req.method + " " + req.path + "?" + req.get_param_value("env") + " " +
           req.get_header_value("X-Slipway-Run") + " " + req.body;
    res.status = 201;
    res.set_content("accepted", "text/plain");
  });
  LocalServer server(std::move(srv));
  HttplibHttpClient client;
  HttpRequest req;
  req.method = "PUT";
  req.url = server.Url("http", "/deploy/hook?env=dev#ignored");
  req.headers = {{"X-Slipway-Run", "run-1"}, {"Content-Type", "application/json"}};
  req.body = R"({"v":1})";
  auto res = client.Send(req);
  ASSERT_OK(res);
  EXPECT_EQ(res->status, 201);
  EXPECT_EQ(res->body, "accepted");
  EXPECT_EQ(seen, R"(PUT /deploy/hook?dev run-1 {"v":1})");
}

TEST(HttpClientTest, AnErrorStatusIsAnAnswerNotAFailure) {
  auto srv = std::make_unique<httplib::Server>();
  LocalServer server(std::move(srv));  // every path is 404
  auto res = HttplibHttpClient().Send({.url = server.Url("http", "")});
  ASSERT_OK(res);
  EXPECT_EQ(res->status, 404);
}

TEST(HttpClientTest, KeepsAtMostOneMebibyteOfTheBody) {
  auto srv = std::make_unique<httplib::Server>();
  srv->Get("/big", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(3 << 20, 'x'), "text/plain");
  });
  LocalServer server(std::move(srv));
  auto res = HttplibHttpClient().Send({.url = server.Url("http", "/big")});
  ASSERT_OK(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.size(), HttplibHttpClient::kMaxBody);
}

TEST(HttpClientTest, CredentialsInTheUrlBecomeBasicAuthentication) {
  auto srv = std::make_unique<httplib::Server>();
  std::string auth;
  srv->Get("/", [&](const httplib::Request& req, httplib::Response&) {
    auth = req.get_header_value("Authorization");
  });
  LocalServer server(std::move(srv));
  std::string url = server.Url("http", "/");
  url.insert(url.find("//") + 2, "deployer:p%40ss@");
  ASSERT_OK(HttplibHttpClient().Send({.url = url}));
  EXPECT_EQ(auth, "Basic ZGVwbG95ZXI6cEBzcw==");  // base64 of "deployer:p@ss"

  // A failure's message names the URL without them.
  auto port = AllocatePort();  // nothing listens on it
  ASSERT_OK(port);
  HttpRequest down{.url = "http://deployer:p%40ss@127.0.0.1:" + std::to_string(*port) + "/x"};
  auto res = HttplibHttpClient().Send(down);
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kUnavailable,
                            HasSubstr("GET http://***@127.0.0.1:" + std::to_string(*port) + "/x")));
  EXPECT_THAT(std::string(res.status().message()), ::testing::Not(HasSubstr("p%40ss")));
}

TEST(HttpClientTest, AServerThatDoesNotAnswerInTimeIsATimeout) {
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  auto srv = std::make_unique<httplib::Server>();
  srv->Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return release; });
    res.set_content("late", "text/plain");
  });
  LocalServer server(std::move(srv));
  auto res = HttplibHttpClient().Send({.url = server.Url("http", "/slow"), .timeout = absl::Milliseconds(300)});
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("/slow")));
}

TEST(HttpClientTest, TheWholeRequestIsBoundedByTheInjectedClock) {
  testing::FakeClock clock;
  auto srv = std::make_unique<httplib::Server>();
  srv->Get("/drip", [&](const httplib::Request&, httplib::Response& res) {
    clock.Advance(absl::Seconds(2));  // the answer comes after the request's deadline
    res.set_content("late", "text/plain");
  });
  LocalServer server(std::move(srv));
  HttplibHttpClient client({}, &clock);
  auto res = client.Send({.url = server.Url("http", "/drip"), .timeout = absl::Seconds(1)});
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("timed out")));
}

TEST(HttpClientTest, ANothingListeningPortIsUnavailable) {
  auto port = AllocatePort();  // free, and nothing listens on it
  ASSERT_OK(port);
  HttpRequest req{.url = "http://127.0.0.1:" + std::to_string(*port) + "/"};
  auto res = HttplibHttpClient().Send(req);
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("GET http://127.0.0.1")));
}

TEST(HttpClientTest, RefusesUrlsThatAreNotHttpOrHttps) {
  for (const char* url : {"file:///etc/passwd", "ftp://example.com/x", "example.com/x", "http://",
                          "http:// spaced/", "http://host/a b"}) {
    EXPECT_THAT(HttplibHttpClient().Send({.url = url}),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(url)))
        << url;
  }
}

TEST(HttpClientTest, GoesThroughTheProxyUnlessTheHostIsExempt) {
  auto srv = std::make_unique<httplib::Server>();
  std::vector<std::string> seen;
  srv->Get("(.*)", [&](const httplib::Request& req, httplib::Response& res) {
    seen.push_back(req.path + " " + req.get_header_value("Proxy-Authorization"));
    res.set_content("via proxy", "text/plain");
  });
  LocalServer proxy(std::move(srv));
  const std::string proxy_url = proxy.Url("http", "");
  std::string with_credentials = proxy_url;
  with_credentials.insert(with_credentials.find("//") + 2, "ops:s3cret@");

  HttplibHttpClient client({.http_proxy = with_credentials, .no_proxy = "localhost, .internal"});
  auto res = client.Send({.url = "http://deploy.example.invalid/hook?x=1"});
  ASSERT_OK(res);
  EXPECT_EQ(res->body, "via proxy");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "http://deploy.example.invalid:80/hook Basic " +
                         std::string("b3BzOnMzY3JldA=="));  // base64 of "ops:s3cret"

  // Exempt hosts (and their subdomains) are reached directly: this one does not exist.
  EXPECT_THAT(client.Send({.url = "http://build.ci.internal/x", .timeout = absl::Seconds(2)}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("build.ci.internal")));
  EXPECT_EQ(seen.size(), 1u);
  // https uses its own setting (none here), so it does not go through the http proxy.
  EXPECT_THAT(client.Send({.url = "https://deploy.example.invalid/", .timeout = absl::Seconds(2)}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("deploy.example.invalid")));
  EXPECT_EQ(seen.size(), 1u);
}

TEST(HttpClientTest, ABadProxySettingIsAnErrorThatDoesNotRepeatItsCredentials) {
  HttplibHttpClient client({.http_proxy = "socks5://ops:s3cret@proxy:1080"});
  auto res = client.Send({.url = "http://example.invalid/"});
  EXPECT_THAT(res, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("http proxy is not")));
  EXPECT_THAT(std::string(res.status().message()), ::testing::Not(HasSubstr("s3cret")));
}

TEST(HttpClientTest, HttpsVerifiesTheServersCertificate) {
  testing::TempDir certs;
  ASSERT_TRUE(testing::MakeSelfSignedCert(certs)) << "openssl could not generate a certificate";
  auto srv = std::make_unique<httplib::SSLServer>(certs.File("cert.pem").c_str(),
                                                  certs.File("key.pem").c_str());
  ASSERT_TRUE(srv->is_valid());
  srv->Get("/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("v1", "text/plain");
  });
  LocalServer server(std::move(srv));
  const std::string url = server.Url("https", "/version");

  // Not signed by anything the client trusts: refused before any request is sent.
  EXPECT_THAT(HttplibHttpClient().Send({.url = url}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("not trusted")));
  // Trusted: answered.
  auto res = HttplibHttpClient({.ca_file = certs.File("cert.pem")}).Send({.url = url});
  ASSERT_OK(res);
  EXPECT_EQ(res->body, "v1");
}

}  // namespace
}  // namespace slipway::deploy
