// PostgreSQL as Slipway's store (DatabaseOptions::postgres): connections over libpq, the
// translation of the repositories' SQL, and how PostgreSQL's errors become statuses.
//
// Every write transaction of every replica first takes one transaction-scoped advisory lock, so
// writes to the store are serialized as they are on SQLite (each replica still commits its
// queued writes in groups). Nothing rests on session state: no session advisory locks, no LISTEN,
// no SET outside a transaction; so a connection may be pooled by PgBouncer in transaction mode.
// The one session state used is an optimization: statements are prepared on the session once
// and executed by name (PostgreSQL then parses and plans them once, not at every execution).
// Behind a transaction pooler the store URL says pooler=transaction and statements run unnamed;
// a session that reports a prepared statement missing or doubled (a pooler the URL does not
// mention) turns preparing off for the whole store. A session that stops answering while it
// holds the lock (a SIGSTOPped or partitioned replica) is cut off by the server after
// kIdleInTransactionTimeout, which releases the lock.
#ifndef SLIPWAY_STORAGE_POSTGRES_H_
#define SLIPWAY_STORAGE_POSTGRES_H_

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace slipway::storage {

class Connection;

inline constexpr absl::Duration kIdleInTransactionTimeout = absl::Seconds(5);
// How long a write waits for the store's write lock before giving UNAVAILABLE.
inline constexpr absl::Duration kWriteLockTimeout = absl::Seconds(20);

// What the connections of one store share.
struct PostgresSessions {
  // Whether statements are prepared on sessions (see above).
  std::atomic<bool> prepare{true};
};

// Connects (at most 5 s unless the string says connect_timeout) and sets nothing on the session.
// `conninfo` may carry Slipway's pooler parameter (WithoutPooler, storage/store_url.h).
// UNAVAILABLE when the server cannot be reached; the message never holds the password.
// `sessions`: shared by the store's connections (null: this connection's own).
absl::StatusOr<std::unique_ptr<Connection>> ConnectPostgres(
    const std::string& conninfo, std::shared_ptr<PostgresSessions> sessions = nullptr);

// Statements sent to PostgreSQL servers by this process so far (each one round trip), for
// benchmarks that count a request's round trips.
uint64_t PostgresRoundTrips();
// Of those, the round trips of write transactions: one connection makes them one after another,
// so they bound a store's write rate.
uint64_t PostgresWriterRoundTrips();

// SQLite-style parameters (`?`, `?N`) become PostgreSQL's ($1, $N); quoted text is left as it is.
// The number of parameters is stored in `*count`.
std::string TranslateParameters(std::string_view sql, int* count);

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_POSTGRES_H_
