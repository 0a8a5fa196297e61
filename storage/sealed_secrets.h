// Secret values at rest: every field marked [(slipway.v1.sensitivity) = SENSITIVITY_SECRET]
// (secret references' values, HTTP node headers, environment maps), wherever it sits in a stored
// message (a pipeline, a run's stage snapshot, a release's resources, a preview's blueprint), is
// sealed with the database's SecretBox before it is written and opened after it is read. A copy
// of the database file, its WAL or a backup then shows no secret without the key file.
#ifndef SLIPWAY_STORAGE_SEALED_SECRETS_H_
#define SLIPWAY_STORAGE_SEALED_SECRETS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/secret_box.h"
#include "google/protobuf/message.h"
#include "storage/database.h"

namespace slipway::storage {

// Seals every plain secret value of `message` in place; sealed ones stay as they are.
void SealSecrets(google::protobuf::Message* message, const SecretBox& box);

// Opens every sealed value in place; plain ones (written before the database had a key) stay.
// DATA_LOSS if one does not open with this key.
absl::Status OpenSecrets(google::protobuf::Message* message, const SecretBox& box);

// Whether `message` holds a secret value that is not sealed.
bool HasPlainSecrets(const google::protobuf::Message& message);

// The bytes to store for `message`: serialized with its secrets sealed under tx's key, if any.
std::string StoredBytes(const Transaction& tx, const google::protobuf::Message& message);

// Parses stored bytes into `message` and opens its secrets. DATA_LOSS naming `what` if the
// bytes do not parse or a secret does not open.
absl::Status ParseStored(const Transaction& tx, std::string_view bytes,
                         google::protobuf::Message* message, std::string_view what);

// For startup: the key id the database's secrets are sealed with (recorded on first use), or
// empty. FAILED_PRECONDITION if the database was sealed with another key than `box`'s.
absl::Status CheckSecretKey(Database& db, const SecretBox& box);

// Whether the database's secrets were sealed (a key id is recorded).
absl::StatusOr<bool> SecretsSealed(Database& db);

// Seals every plain secret in every stored pipeline, run, release and preview (a database
// written before it had a key, or by an older Slipway), then records the key id. Returns how
// many rows were rewritten. With `old_box`, values sealed under it are re-sealed under `box`
// (key rotation).
absl::StatusOr<int64_t> SealStoredSecrets(Database& db, const SecretBox& box,
                                          const SecretBox* old_box = nullptr);

}  // namespace slipway::storage

#endif  // SLIPWAY_STORAGE_SEALED_SECRETS_H_
