#include "claimcheck/auth/key_ring.hpp"

#include <spdlog/spdlog.h>

#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>

#include "claimcheck/common/encoding.hpp"
#include "file_lock.hpp"

namespace claimcheck::auth {
namespace {

using std::chrono::system_clock;

constexpr std::string_view kRetiredPrefix = "retired-";
constexpr std::chrono::seconds kCheckInterval{1};
constexpr std::size_t kKidCharsInFileName = 12;

// The retirement time in a "retired-<unix seconds>-<kid>.pem" name; nullopt for other names.
std::optional<system_clock::time_point> retirement_time(std::string_view name) {
  if (!name.starts_with(kRetiredPrefix)) {
    return std::nullopt;
  }
  name.remove_prefix(kRetiredPrefix.size());
  std::int64_t seconds = 0;
  const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), seconds);
  if (error != std::errc() || end == name.data() || *end != '-') {
    return std::nullopt;
  }
  return system_clock::time_point(std::chrono::seconds(seconds));
}

std::optional<std::filesystem::file_time_type> modification_time(const std::filesystem::path& dir) {
  std::error_code error;
  const auto time = std::filesystem::last_write_time(dir, error);
  if (error) {
    return std::nullopt;
  }
  return time;
}

}  // namespace

struct KeyRing::Snapshot {
  token::SigningKey active;
  std::string jwks;
  std::filesystem::file_time_type dir_time;
  std::optional<system_clock::time_point> next_drop;
};

KeyRing::KeyRing(std::filesystem::path dir, std::string algorithm,
                 std::chrono::seconds max_token_lifetime)
    : dir_(std::move(dir)),
      algorithm_(std::move(algorithm)),
      max_token_lifetime_(max_token_lifetime),
      snapshot_(load()),
      next_check_(std::chrono::steady_clock::now() + kCheckInterval) {}

KeyRing::~KeyRing() = default;

std::shared_ptr<const KeyRing::Snapshot> KeyRing::load() const {
  // Taken first: a change while we read makes the next refresh read again.
  const auto dir_time = modification_time(dir_).value_or(std::filesystem::file_time_type());
  token::SigningKey active = token::load_or_create_key(dir_, algorithm_);
  nlohmann::json keys = nlohmann::json::array({active.public_jwk()});
  std::vector<std::string> kids{active.kid()};
  std::optional<system_clock::time_point> next_drop;
  const auto now = system_clock::now();

  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".pem" || name == token::kSigningKeyFileName ||
        name.starts_with(".")) {
      continue;
    }
    if (const auto retired_at = retirement_time(name)) {
      const auto drop_at = *retired_at + max_token_lifetime_ + kRetirementMargin;
      if (now >= drop_at) {
        std::error_code ignored;  // another server sharing the directory may have been first
        std::filesystem::remove(entry.path(), ignored);
        spdlog::info("dropped retired key file '{}': every token it signed has expired",
                     entry.path().string());
        continue;
      }
      next_drop = next_drop ? std::min(*next_drop, drop_at) : drop_at;
    }
    const auto retired = token::SigningKey::load_pem(entry.path());
    if (std::find(kids.begin(), kids.end(), retired.kid()) == kids.end()) {
      kids.push_back(retired.kid());
      keys.push_back(retired.public_jwk());
    }
  }
  spdlog::info("signing with {} key {}; JWKS publishes {} keys", active.algorithm(), active.kid(),
               kids.size());
  return std::make_shared<const Snapshot>(
      Snapshot{std::move(active), nlohmann::json{{"keys", keys}}.dump(), dir_time, next_drop});
}

void KeyRing::refresh() {
  const std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_check_) {
    return;
  }
  next_check_ = now + kCheckInterval;
  const auto dir_time = modification_time(dir_);
  const bool drop_due = snapshot_->next_drop && system_clock::now() >= *snapshot_->next_drop;
  if (dir_time && *dir_time == snapshot_->dir_time && !drop_due) {
    return;
  }
  try {
    snapshot_ = load();
  } catch (const std::exception& error) {
    spdlog::warn("cannot reload signing keys from '{}': {}; keeping key {}", dir_.string(),
                 error.what(), snapshot_->active.kid());
  }
}

token::SigningKey KeyRing::active() {
  refresh();
  const std::lock_guard lock(mutex_);
  return snapshot_->active;
}

std::string KeyRing::jwks() {
  refresh();
  const std::lock_guard lock(mutex_);
  return snapshot_->jwks;
}

token::SigningKey rotate_key(const std::filesystem::path& dir, std::string_view algorithm) {
  // Creates the directory and a first key when there is none, so there is always one to retire.
  static_cast<void>(token::load_or_create_key(dir, algorithm));
  std::optional<FileLock> lock;
  try {
    lock.emplace(dir / ".rotate.lock");
  } catch (const std::runtime_error& error) {
    throw token::KeyError(error.what());
  }
  // Re-read under the lock: a concurrent rotation may have replaced the key meanwhile.
  const auto active_path = dir / token::kSigningKeyFileName;
  const token::SigningKey retiring = token::SigningKey::load_pem(active_path);
  token::SigningKey next = token::SigningKey::generate(algorithm);

  const auto staged = dir / (".new-key-" + random_hex(8) + ".pem");
  next.save_pem(staged);
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(system_clock::now().time_since_epoch())
          .count();
  const auto retired_path = dir / (std::string(kRetiredPrefix) + std::to_string(seconds) + "-" +
                                   retiring.kid().substr(0, kKidCharsInFileName) + ".pem");
  // A second name for the old key first, then the new key over the active name: a server
  // reading the directory in between sees the old key twice, never no key.
  std::error_code error;
  std::filesystem::create_hard_link(active_path, retired_path, error);
  if (!error) {
    std::filesystem::rename(staged, active_path, error);
  }
  if (error) {
    std::filesystem::remove(staged);
    throw token::KeyError("cannot rotate the signing key in '" + dir.string() +
                          "': " + error.message());
  }
  spdlog::info("rotated signing key: {} key {} is active, {} retired to '{}'", next.algorithm(),
               next.kid(), retiring.kid(), retired_path.string());
  return next;
}

}  // namespace claimcheck::auth
