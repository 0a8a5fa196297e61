// A closed-loop gRPC load generator: C connections, each with S calls in flight, for a fixed
// time, against one unary method. Every response's gRPC status is checked (h2load counts HTTP
// 200 as success even when grpc-status is not OK). Prints requests/s and latency percentiles
// as one JSON line.
//   grpc_load --target 127.0.0.1:7420 --method /slipway.v1.PipelineService/GetPipeline
//             --request-hex 0a0473686f70 --token slw_… --connections 4 --streams 10
//             --seconds 10
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Call {
  grpc::ClientContext context;
  grpc::ByteBuffer response;
  grpc::Status status;
  Clock::time_point start;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
};

std::string FromHex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"grpc_load"};
  std::string target, method, request_hex, token;
  int connections = 4, streams = 10;
  double seconds = 10, warmup = 1;
  app.add_option("--target", target)->required();
  app.add_option("--method", method)->required();
  app.add_option("--request-hex", request_hex, "Serialized request message, hex");
  app.add_option("--token", token);
  app.add_option("--connections", connections);
  app.add_option("--streams", streams, "Calls in flight per connection");
  app.add_option("--seconds", seconds);
  app.add_option("--warmup", warmup);
  CLI11_PARSE(app, argc, argv);

  const std::string request = FromHex(request_hex);
  std::atomic<bool> measuring{false}, stopping{false};
  std::vector<std::vector<double>> latencies(connections);
  std::vector<long> errors(connections, 0);
  std::vector<std::string> first_error(connections);
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      grpc::ChannelArguments args;
      // A separate TCP connection per channel.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("slipway.bench.connection", c);
      auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
      grpc::GenericStub stub(channel);
      grpc::CompletionQueue cq;
      auto start_call = [&](Call* call) {
        call->context.~ClientContext();
        new (&call->context) grpc::ClientContext();
        if (!token.empty()) call->context.AddMetadata("authorization", "Bearer " + token);
        grpc::Slice slice(request);
        grpc::ByteBuffer buffer(&slice, 1);
        call->start = Clock::now();
        call->reader = stub.PrepareUnaryCall(&call->context, method, buffer, &cq);
        call->reader->StartCall();
        call->reader->Finish(&call->response, &call->status, call);
      };
      std::vector<std::unique_ptr<Call>> calls;
      for (int s = 0; s < streams; ++s) {
        calls.push_back(std::make_unique<Call>());
        start_call(calls.back().get());
      }
      int in_flight = streams;
      void* tag;
      bool ok;
      while (in_flight > 0 && cq.Next(&tag, &ok)) {
        Call* call = static_cast<Call*>(tag);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - call->start).count();
        if (measuring) {
          if (call->status.ok()) {
            latencies[c].push_back(ms);
          } else {
            if (errors[c]++ == 0) first_error[c] = call->status.error_message();
          }
        }
        if (stopping) {
          --in_flight;
        } else {
          start_call(call);
        }
      }
      cq.Shutdown();
      while (cq.Next(&tag, &ok)) {
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  measuring = true;
  auto begin = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  double elapsed = std::chrono::duration<double>(Clock::now() - begin).count();
  stopping = true;
  for (auto& t : threads) t.join();

  std::vector<double> all;
  long total_errors = 0;
  std::string error;
  for (int c = 0; c < connections; ++c) {
    all.insert(all.end(), latencies[c].begin(), latencies[c].end());
    total_errors += errors[c];
    if (error.empty()) error = first_error[c];
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf(
      "{\"method\": \"%s\", \"ok\": %zu, \"errors\": %ld, \"rps\": %.0f, \"p50_ms\": %.3f, "
      "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"first_error\": \"%s\"}\n",
      method.c_str(), all.size(), total_errors, all.size() / elapsed, pct(0.50), pct(0.99),
      all.empty() ? 0.0 : all.back(), error.c_str());
  return total_errors == 0 && !all.empty() ? 0 : 1;
}
