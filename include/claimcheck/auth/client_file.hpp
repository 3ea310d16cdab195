#pragma once

/// Clients added by an operator (`claimcheck-auth add-client`), kept in a YAML file of their own
/// beside the configuration, so that adding one never rewrites the operator's configuration.
///
/// The file holds a YAML list in the format of the configuration's `clients` list (id,
/// secret-hash, scopes, audience, token-lifetime) and is written with mode 0600, replaced
/// atomically under an flock on "<file>.lock". A running auth server re-reads it when it changes.

#include <filesystem>
#include <vector>

#include "claimcheck/auth/auth_server.hpp"

namespace claimcheck::auth {

/// The clients in `file`; none when it does not exist. Throws ConfigError naming the file and the
/// entry when it is malformed.
std::vector<RegisteredClient> load_client_file(const std::filesystem::path& file);

/// Appends `client` to `file` (creating it and its directory). Throws ConfigError when its id is
/// already in the file or among `configured`, or its secret hash is not Argon2id, and
/// std::runtime_error naming the file when it cannot be written.
void add_client_to_file(const std::filesystem::path& file, const RegisteredClient& client,
                        const std::vector<RegisteredClient>& configured);

}  // namespace claimcheck::auth
