#include "claimcheck/auth/client_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "claimcheck/auth/secret_hash.hpp"
#include "claimcheck/common/encoding.hpp"
#include "file_lock.hpp"

namespace claimcheck::auth {
namespace {

std::string errno_text() { return std::strerror(errno); }  // NOLINT(concurrency-mt-unsafe)

YAML::Node to_yaml(const RegisteredClient& client) {
  YAML::Node node;
  node["id"] = client.id;
  node["secret-hash"] = client.secret_hash;
  for (const auto& scope : client.scopes) {
    node["scopes"].push_back(scope);
  }
  node["audience"] = client.audience;
  if (client.token_lifetime.count() > 0) {
    node["token-lifetime"] = std::to_string(client.token_lifetime.count()) + "s";
  }
  return node;
}

void write_private_file(const std::filesystem::path& path, const std::string& content) {
  const std::filesystem::path temporary = path.string() + ".tmp-" + random_hex(8);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create '" + temporary.string() + "': " + errno_text());
  }
  std::string_view rest = content;
  bool written = true;
  while (!rest.empty() && written) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    written = n > 0;
    if (written) {
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  written = written && ::fsync(fd) == 0;
  written = ::close(fd) == 0 && written;
  std::error_code error;
  if (written) {
    std::filesystem::rename(temporary, path, error);
  }
  if (!written || error) {
    std::filesystem::remove(temporary, error);
    throw std::runtime_error("cannot write client file '" + path.string() + "'");
  }
}

}  // namespace

std::vector<RegisteredClient> load_client_file(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) {
    return {};
  }
  YAML::Node list;
  try {
    list = YAML::LoadFile(file.string());
  } catch (const YAML::Exception& error) {
    throw ConfigError("client file '" + file.string() + "' is not valid YAML: " + error.what());
  }
  return read_clients(list, "client file '" + file.string() + "'");
}

void add_client_to_file(const std::filesystem::path& file, const RegisteredClient& client,
                        const std::vector<RegisteredClient>& configured) {
  if (client.id.empty() || !is_argon2id_hash(client.secret_hash)) {
    throw ConfigError("a client needs an id and an Argon2id secret hash");
  }
  if (file.has_parent_path()) {
    std::filesystem::create_directories(file.parent_path());
  }
  const FileLock lock(file.string() + ".lock");
  std::vector<RegisteredClient> clients = load_client_file(file);
  const auto same_id = [&](const RegisteredClient& other) { return other.id == client.id; };
  if (std::any_of(clients.begin(), clients.end(), same_id) ||
      std::any_of(configured.begin(), configured.end(), same_id)) {
    throw ConfigError("client id '" + client.id + "' exists already");
  }
  clients.push_back(client);

  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& entry : clients) {
    list.push_back(to_yaml(entry));
  }
  YAML::Emitter out;
  out << list;
  const std::string text =
      "# Clients added with claimcheck-auth add-client; the auth server re-reads this file.\n" +
      std::string(out.c_str()) + "\n";
  // Checked before it replaces the file: what we write must read back as the same clients.
  const auto reread = read_clients(YAML::Load(text), "the new client file");
  if (reread.size() != clients.size()) {
    throw ConfigError("the new client file would not read back");
  }
  write_private_file(file, text);
}

}  // namespace claimcheck::auth
