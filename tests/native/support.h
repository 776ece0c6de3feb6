// Test support: a `latentstage serve` subprocess on a free loopback port, a TCP proxy that can
// cut connections (a network loss with the server alive), and small helpers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lstest {

// Path from an environment variable, or "" (the caller fails with a message naming it).
std::string env_path(const char* name);

// `$LATENTSTAGE_SERVER serve --model bundled --device cpu --host 127.0.0.1 --port 0 ...`,
// started in its own process group; the port is read from its `event=listening ... port=N`
// log line (stderr goes to a log file next to the test binary).
class ServerProcess {
 public:
  // Starts the server and waits for it to listen (up to 180 s). On failure error() says why.
  explicit ServerProcess(const std::string& name);
  ~ServerProcess();  // SIGTERM, then SIGKILL after 10 s
  bool ok() const { return port_ > 0; }
  const std::string& error() const { return error_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  void kill_now();  // SIGKILL the server (mid-stream loss)
  std::string log_tail() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_path_, error_;
};

// A loopback TCP forwarder: clients connect to target(), bytes go to and from `upstream`.
// cut() drops every live connection (both sides see a reset) and keeps accepting new ones.
class TcpProxy {
 public:
  explicit TcpProxy(int upstream_port);
  ~TcpProxy();
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  void cut();

 private:
  void accept_loop();
  void pump(int a, int b);
  int listen_fd_ = -1;
  int port_ = 0;
  int upstream_port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;          // live sockets (both sides)
  std::vector<std::thread> pumps_;
};

// Run a command, wait for it; returns its exit status (or -1) and fills `output` with its
// stdout+stderr.
int run_command(const std::vector<std::string>& argv, std::string* output);

// Process resident set size, bytes.
uint64_t rss_bytes();

}  // namespace lstest
