#include <algorithm>
#include <set>

#include "claimcheck/auth/auth_server.hpp"
#include "claimcheck/auth/secret_hash.hpp"

namespace claimcheck::auth {
namespace {

// A token lifetime beyond a day defeats the point of short-lived bearer tokens.
constexpr std::chrono::hours kMaxTokenLifetime{24};

class ClientReader {
 public:
  ClientReader(const Config& config, std::size_t index)
      : source_(config.source_name()), prefix_("clients[" + std::to_string(index) + "].") {}

  [[nodiscard]] std::string scalar(const YAML::Node& item, const std::string& field,
                                   std::optional<std::string> fallback) const {
    const YAML::Node& const_item = item;
    const YAML::Node value = const_item[field];
    if (!value.IsDefined() || value.IsNull()) {
      if (fallback) {
        return *fallback;
      }
      throw error(field, "is missing");
    }
    if (!value.IsScalar() || value.Scalar().empty()) {
      throw error(field, "must be a non-empty string");
    }
    return value.Scalar();
  }

  [[nodiscard]] std::vector<std::string> scopes(const YAML::Node& item) const {
    const YAML::Node& const_item = item;
    const YAML::Node value = const_item["scopes"];
    std::vector<std::string> scopes;
    if (!value.IsDefined() || value.IsNull()) {
      return scopes;
    }
    if (!value.IsSequence()) {
      throw error("scopes", "must be a list");
    }
    for (const auto& scope : value) {
      // RFC 6749 section 3.3: scope tokens are printable ASCII without space, '"' or '\'.
      const bool valid = scope.IsScalar() && !scope.Scalar().empty() &&
                         std::all_of(scope.Scalar().begin(), scope.Scalar().end(), [](char c) {
                           return c > ' ' && c < 0x7f && c != '"' && c != '\\';
                         });
      if (!valid) {
        throw error("scopes", "must hold scope names without spaces or quotes");
      }
      scopes.push_back(scope.Scalar());
    }
    return scopes;
  }

  [[nodiscard]] ConfigError error(const std::string& field, const std::string& problem) const {
    return ConfigError("configuration key '" + prefix_ + field + "' in " + source_ + " " + problem);
  }

 private:
  std::string source_;
  std::string prefix_;
};

std::vector<RegisteredClient> read_clients(const Config& config) {
  std::vector<RegisteredClient> clients;
  const YAML::Node list = config.node("clients");
  if (!list.IsDefined() || list.IsNull()) {
    return clients;
  }
  if (!list.IsSequence()) {
    throw ConfigError("configuration key 'clients' in " + config.source_name() +
                      " must be a list of {id, secret-hash, scopes, audience}");
  }
  std::set<std::string> ids;
  for (std::size_t index = 0; index < list.size(); ++index) {
    const ClientReader reader(config, index);
    const YAML::Node& const_list = list;
    const YAML::Node item = const_list[index];
    if (!item.IsMap()) {
      throw reader.error("id", "must belong to a mapping with id and secret-hash");
    }
    RegisteredClient client;
    client.id = reader.scalar(item, "id", std::nullopt);
    client.secret_hash = reader.scalar(item, "secret-hash", std::nullopt);
    if (!is_argon2id_hash(client.secret_hash)) {
      throw reader.error("secret-hash",
                         "must be an Argon2id hash (make one with: claimcheck-auth hash-secret)");
    }
    client.scopes = reader.scopes(item);
    client.audience = reader.scalar(item, "audience", client.audience);
    if (!ids.insert(client.id).second) {
      throw reader.error("id", "repeats client id '" + client.id + "'");
    }
    clients.push_back(std::move(client));
  }
  return clients;
}

}  // namespace

AuthSettings AuthSettings::from_config(const Config& config) {
  AuthSettings settings;
  settings.issuer = config.get_string("issuer", settings.issuer);
  if (settings.issuer.empty()) {
    throw ConfigError("configuration key 'issuer' must not be empty");
  }
  settings.keys_dir = config.get_string("keys.dir", settings.keys_dir.string());
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(
      config.get_duration("token.lifetime", settings.token_lifetime));
  if (lifetime < std::chrono::seconds(1) || lifetime > kMaxTokenLifetime) {
    throw ConfigError("configuration key 'token.lifetime' must be between 1s and 24h");
  }
  settings.token_lifetime = lifetime;
  settings.clients = read_clients(config);
  return settings;
}

}  // namespace claimcheck::auth
