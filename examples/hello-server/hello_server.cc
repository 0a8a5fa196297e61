// hello-server: the small HTTP service the example pipelines deploy. It listens on
// 127.0.0.1:$PORT and reports the version it was started with.
//   hello-server --version 1.4.2
//   GET /         -> "hello from shop 1.4.2\n"
//   GET /version  -> "1.4.2"
//   GET /healthz  -> "ok"
#include <httplib.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  std::string version = "dev";
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--version") version = argv[i + 1];
  }
  const char* port_env = std::getenv("PORT");
  int port = port_env != nullptr ? std::atoi(port_env) : 8080;
  const char* name_env = std::getenv("SLIPWAY_PIPELINE");
  std::string name = name_env != nullptr ? name_env : "hello";

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content("hello from " + name + " " + version + "\n", "text/plain");
  });
  server.Get("/version", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(version, "text/plain");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  if (!server.bind_to_port("127.0.0.1", port)) {
    std::fprintf(stderr, "hello-server: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  std::fprintf(stderr, "hello-server %s listening on 127.0.0.1:%d\n", version.c_str(), port);
  std::thread listener([&] { server.listen_after_bind(); });
  int sig;
  sigwait(&signals, &sig);
  server.stop();
  listener.join();
  return 0;
}
