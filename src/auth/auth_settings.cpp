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
  ClientReader(std::string source, std::size_t index)
      : source_(std::move(source)), prefix_("clients[" + std::to_string(index) + "].") {}

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

  [[nodiscard]] std::chrono::seconds lifetime(const YAML::Node& item) const {
    const YAML::Node& const_item = item;
    const YAML::Node value = const_item["token-lifetime"];
    if (!value.IsDefined() || value.IsNull()) {
      return std::chrono::seconds(0);
    }
    const auto parsed = value.IsScalar() ? parse_duration(value.Scalar()) : std::nullopt;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
        parsed.value_or(std::chrono::milliseconds(0)));
    if (seconds < std::chrono::seconds(1) || seconds > kMaxTokenLifetime) {
      throw error("token-lifetime", "must be a duration between 1s and 24h (e.g. 5m)");
    }
    return seconds;
  }

  [[nodiscard]] ConfigError error(const std::string& field, const std::string& problem) const {
    return ConfigError("configuration key '" + prefix_ + field + "' in " + source_ + " " + problem);
  }

 private:
  std::string source_;
  std::string prefix_;
};

}  // namespace

std::vector<RegisteredClient> read_clients(const YAML::Node& list, const std::string& source) {
  std::vector<RegisteredClient> clients;
  if (!list.IsDefined() || list.IsNull()) {
    return clients;
  }
  if (!list.IsSequence()) {
    throw ConfigError("configuration key 'clients' in " + source +
                      " must be a list of {id, secret-hash, scopes, audience, token-lifetime}");
  }
  std::set<std::string> ids;
  for (std::size_t index = 0; index < list.size(); ++index) {
    const ClientReader reader(source, index);
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
    client.token_lifetime = reader.lifetime(item);
    if (!ids.insert(client.id).second) {
      throw reader.error("id", "repeats client id '" + client.id + "'");
    }
    clients.push_back(std::move(client));
  }
  return clients;
}

AuthSettings AuthSettings::from_config(const Config& config) {
  AuthSettings settings;
  settings.issuer = config.get_string("issuer", settings.issuer);
  if (settings.issuer.empty()) {
    throw ConfigError("configuration key 'issuer' must not be empty");
  }
  settings.keys_dir = config.get_string("keys.dir", settings.keys_dir.string());
  settings.key_algorithm = config.get_string("keys.algorithm", settings.key_algorithm);
  if (settings.key_algorithm != token::kRs256 && settings.key_algorithm != token::kEs256) {
    throw ConfigError("configuration key 'keys.algorithm' must be RS256 or ES256, not '" +
                      settings.key_algorithm + "'");
  }
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(
      config.get_duration("token.lifetime", settings.token_lifetime));
  if (lifetime < std::chrono::seconds(1) || lifetime > kMaxTokenLifetime) {
    throw ConfigError("configuration key 'token.lifetime' must be between 1s and 24h");
  }
  settings.token_lifetime = lifetime;
  settings.clients = read_clients(config.node("clients"), config.source_name());
  settings.public_url = config.get_string("public-url", "");
  if (!settings.public_url.empty() && !settings.public_url.starts_with("http://") &&
      !settings.public_url.starts_with("https://")) {
    throw ConfigError("configuration key 'public-url' must be an http(s) URL, not '" +
                      settings.public_url + "'");
  }
  settings.clients_file = config.get_string("clients-file", settings.clients_file.string());
  settings.revocation_file =
      config.get_string("revocation.file", settings.revocation_file.string());
  return settings;
}

}  // namespace claimcheck::auth
