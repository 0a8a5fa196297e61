// `slipwayd secrets rotate-key`: every sealed secret in the store re-sealed under a new key, in
// one transaction, while slipwayd is stopped.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/secret_box.h"
#include "common/status_macros.h"
#include "server/server.h"
#include "storage/database.h"
#include "storage/sealed_secrets.h"
#include "storage/store_url.h"

namespace slipway::server {

absl::StatusOr<int64_t> RotateSecretKey(const std::string& data_dir, const std::string& store,
                                        const std::string& key_file,
                                        const std::string& new_key_file) {
  const std::string old_path = key_file.empty() ? DefaultSecretKeyPath(data_dir) : key_file;
  const std::string new_path = new_key_file.empty() ? old_path + ".new" : new_key_file;
  ASSIGN_OR_RETURN(SecretBox old_box, SecretBox::FromKeyFile(old_path, false));
  auto old_shared = std::make_shared<const SecretBox>(old_box);
  ASSIGN_OR_RETURN(storage::DatabaseOptions db_options,
                   storage::StoreOptions(store, DatabasePath(data_dir)));
  db_options.secrets = old_shared;
  ASSIGN_OR_RETURN(auto db, storage::Database::Open(db_options));
  RETURN_IF_ERROR(storage::CheckSecretKey(*db, old_box));
  RETURN_IF_ERROR(SecretBox::WriteNewKeyFile(new_path));
  ASSIGN_OR_RETURN(SecretBox new_box, SecretBox::FromKeyFile(new_path, false));
  ASSIGN_OR_RETURN(int64_t rows, storage::SealStoredSecrets(*db, new_box, &old_box));
  RETURN_IF_ERROR(db->Compact());
  db.reset();
  if (new_path == old_path + ".new" && ::rename(new_path.c_str(), old_path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("secrets are sealed under ", new_path,
                                            " but it could not replace ", old_path, ": ",
                                            strerror(errno), "; move it there yourself"));
  }
  return rows;
}

}  // namespace slipway::server
