#include "claimcheck/token/signing_key.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "claimcheck/common/encoding.hpp"
#include "openssl_keys.hpp"

namespace claimcheck::token {
namespace {

constexpr int kRsaBits = 2048;
// A 4096-bit RSA key in PEM is about 3.3 KB; anything far larger is not a key file.
constexpr std::uintmax_t kMaxKeyFileBytes = std::uintmax_t{64} * 1024;

std::string errno_text() { return std::strerror(errno); }  // NOLINT(concurrency-mt-unsafe)

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  /// Closes now so that a failing close (data not written) can be reported.
  bool close() { return ::close(std::exchange(fd_, -1)) == 0; }

 private:
  int fd_;
};

// Writes `content` to a fresh private temporary file beside `path` and syncs it, so that the
// final name only ever refers to a complete key.
std::filesystem::path write_temporary(const std::filesystem::path& path,
                                      const std::string& content) {
  std::filesystem::path temporary =
      path.parent_path() / (path.filename().string() + ".tmp-" + random_hex(8));
  FileDescriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (file.get() < 0) {
    throw KeyError("cannot create key file '" + temporary.string() + "': " + errno_text());
  }
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(file.get(), content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      const std::string reason = errno_text();
      std::filesystem::remove(temporary);
      throw KeyError("cannot write key file '" + temporary.string() + "': " + reason);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(file.get()) != 0 || !file.close()) {
    const std::string reason = errno_text();
    std::filesystem::remove(temporary);
    throw KeyError("cannot write key file '" + temporary.string() + "': " + reason);
  }
  return temporary;
}

std::string read_key_file(const std::filesystem::path& path) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (error) {
    throw KeyError("cannot read key file '" + path.string() + "': " + error.message());
  }
  if (size > kMaxKeyFileBytes) {
    throw KeyError("key file '" + path.string() + "' is too large to be a PEM key");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in) {
    throw KeyError("cannot read key file '" + path.string() + "'");
  }
  return content.str();
}

void warn_if_readable_by_others(const std::filesystem::path& path) {
  using std::filesystem::perms;
  const perms mode = std::filesystem::status(path).permissions();
  if ((mode & (perms::group_all | perms::others_all)) != perms::none) {
    spdlog::warn("signing key file '{}' is accessible to other users; restrict it to mode 0600",
                 path.string());
  }
}

}  // namespace

struct SigningKey::State {
  explicit State(openssl::PkeyPtr private_key)
      : key(std::move(private_key)), algorithm(openssl::is_rsa(*key) ? kRs256 : kEs256) {
    // RFC 7638: the required members only, in lexicographic order, without whitespace; that is
    // exactly how nlohmann::json dumps an object.
    nlohmann::json thumbprint_input;
    if (algorithm == kRs256) {
      thumbprint_input = {{"e", base64url_encode(openssl::rsa_public_exponent(*key))},
                          {"kty", "RSA"},
                          {"n", base64url_encode(openssl::rsa_modulus(*key))}};
    } else {
      thumbprint_input = {{"crv", "P-256"},
                          {"kty", "EC"},
                          {"x", base64url_encode(openssl::ec_x(*key))},
                          {"y", base64url_encode(openssl::ec_y(*key))}};
    }
    kid = base64url_encode(openssl::sha256_bytes(thumbprint_input.dump()));
    public_jwk = thumbprint_input;
    public_jwk["kid"] = kid;
    public_jwk["alg"] = algorithm;
    public_jwk["use"] = "sig";
  }

  openssl::PkeyPtr key;
  std::string algorithm;
  std::string kid;
  nlohmann::json public_jwk;
};

SigningKey::SigningKey(std::shared_ptr<const State> state) : state_(std::move(state)) {}

SigningKey SigningKey::generate_rs256() {
  return SigningKey(std::make_shared<const State>(openssl::generate_rsa(kRsaBits)));
}

SigningKey SigningKey::generate_es256() {
  return SigningKey(std::make_shared<const State>(openssl::generate_ec_p256()));
}

SigningKey SigningKey::generate(std::string_view algorithm) {
  if (algorithm == kRs256) {
    return generate_rs256();
  }
  if (algorithm == kEs256) {
    return generate_es256();
  }
  throw std::invalid_argument("signing algorithm '" + std::string(algorithm) +
                              "' is not supported (RS256 or ES256)");
}

SigningKey SigningKey::load_pem(const std::filesystem::path& path) {
  const std::string pem = read_key_file(path);
  openssl::PkeyPtr key;
  try {
    key = openssl::read_private_pem(pem, "key file '" + path.string() + "'");
  } catch (const std::runtime_error& error) {
    throw KeyError(error.what());
  }
  if (!openssl::is_rsa(*key) && !openssl::is_ec_p256(*key)) {
    throw KeyError("key file '" + path.string() +
                   "' holds neither an RSA nor an EC P-256 key (RS256 and ES256 are supported)");
  }
  if (openssl::is_rsa(*key) && openssl::key_bits(*key) < openssl::kMinRsaBits) {
    throw KeyError("key file '" + path.string() + "' holds an RSA key of " +
                   std::to_string(openssl::key_bits(*key)) + " bits; at least " +
                   std::to_string(openssl::kMinRsaBits) + " are required");
  }
  warn_if_readable_by_others(path);
  return SigningKey(std::make_shared<const State>(std::move(key)));
}

void SigningKey::save_pem(const std::filesystem::path& path) const {
  const auto temporary = write_temporary(path, openssl::write_private_pem(*state_->key));
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::filesystem::remove(temporary);
    throw KeyError("cannot write key file '" + path.string() + "': " + error.message());
  }
}

const std::string& SigningKey::kid() const { return state_->kid; }

const std::string& SigningKey::algorithm() const { return state_->algorithm; }

nlohmann::json SigningKey::public_jwk() const { return state_->public_jwk; }

std::string SigningKey::sign(std::string_view signing_input) const {
  return state_->algorithm == kRs256 ? openssl::sign_rs256(*state_->key, signing_input)
                                     : openssl::sign_es256(*state_->key, signing_input);
}

SigningKey load_or_create_key(const std::filesystem::path& dir, std::string_view algorithm) {
  std::error_code error;
  if (std::filesystem::create_directories(dir, error)) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::replace, error);
  }
  if (error) {
    throw KeyError("cannot create key directory '" + dir.string() + "': " + error.message());
  }

  const std::filesystem::path path = dir / kSigningKeyFileName;
  if (std::filesystem::exists(path)) {
    return SigningKey::load_pem(path);
  }

  SigningKey key = SigningKey::generate(algorithm);
  const std::filesystem::path temporary = dir / (".new-key-" + random_hex(8) + ".pem");
  key.save_pem(temporary);
  // A hard link fails if the name exists, so a concurrent first start cannot overwrite a key
  // another process already hands out tokens for; the loser loads the winner's key.
  std::filesystem::create_hard_link(temporary, path, error);
  std::filesystem::remove(temporary);
  if (error == std::errc::file_exists) {
    return SigningKey::load_pem(path);
  }
  if (error) {
    throw KeyError("cannot write key file '" + path.string() + "': " + error.message());
  }
  spdlog::info("created {} signing key {} in '{}'", key.algorithm(), key.kid(), path.string());
  return key;
}

std::string sign_jwt(const nlohmann::json& claims, const SigningKey& key) {
  if (!claims.is_object()) {
    throw std::invalid_argument("JWT claims must be a JSON object");
  }
  const nlohmann::json header = {{"alg", key.algorithm()}, {"typ", "JWT"}, {"kid", key.kid()}};
  std::string token = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  const std::string signature = key.sign(token);
  token += ".";
  token += base64url_encode(signature);
  return token;
}

}  // namespace claimcheck::token
