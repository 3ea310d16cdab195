#include "claimcheck/token/verifier.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "claimcheck/common/encoding.hpp"
#include "claimcheck/token/signing_key.hpp"

namespace claimcheck::token {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr const char* kIssuer = "http://auth.test";
constexpr const char* kAudience = "claimcheck";

std::int64_t epoch_seconds(system_clock::time_point time) {
  return std::chrono::duration_cast<seconds>(time.time_since_epoch()).count();
}

std::string jwks_of(std::initializer_list<const SigningKey*> keys) {
  nlohmann::json document = {{"keys", nlohmann::json::array()}};
  for (const auto* key : keys) {
    document["keys"].push_back(key->public_jwk());
  }
  return document.dump();
}

// A JWKS endpoint stand-in whose answer the test changes; it counts how often it is asked.
class FakeJwks {
 public:
  void serve(std::optional<std::string> document) {
    const std::lock_guard lock(mutex_);
    document_ = std::move(document);
  }
  [[nodiscard]] int calls() const { return calls_; }
  JwksFetcher fetcher() {
    return [this] {
      ++calls_;
      const std::lock_guard lock(mutex_);
      return document_;
    };
  }

 private:
  std::mutex mutex_;
  std::optional<std::string> document_;
  std::atomic<int> calls_{0};
};

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override { jwks_.serve(jwks_of({old_key_})); }

  nlohmann::json claims(system_clock::time_point now = system_clock::now()) const {
    return {{"iss", kIssuer},
            {"sub", "demo-client"},
            {"aud", kAudience},
            {"iat", epoch_seconds(now)},
            {"nbf", epoch_seconds(now)},
            {"exp", epoch_seconds(now + seconds(300))},
            {"jti", "jti-1"},
            {"scope", "files.send files.read"}};
  }

  TokenVerifier make_verifier(seconds refresh_interval = seconds(30),
                              Clock clock = system_clock::now) {
    VerifierSettings settings{.issuer = kIssuer, .audience = kAudience};
    settings.jwks_min_refresh_interval = refresh_interval;
    return TokenVerifier(settings, jwks_.fetcher(), std::move(clock));
  }

  static std::string unsigned_token(const nlohmann::json& header, const nlohmann::json& body,
                                    std::string_view signature) {
    return base64url_encode(header.dump()) + "." + base64url_encode(body.dump()) + "." +
           std::string(signature);
  }

  // RSA key generation is slow; each test process makes only the keys it uses.
  const SigningKey* old_key_ = &old_key();
  FakeJwks jwks_;

  static const SigningKey& old_key() {
    static const SigningKey key = SigningKey::generate_rs256();
    return key;
  }
  static const SigningKey& new_key() {
    static const SigningKey key = SigningKey::generate_rs256();
    return key;
  }
  static const SigningKey& stranger_key() {
    static const SigningKey key = SigningKey::generate_rs256();
    return key;
  }
};

TEST_F(VerifierTest, AcceptsAValidTokenAndExposesItsClaims) {
  auto verifier = make_verifier();
  const auto now = system_clock::now();

  const VerifyResult result = verifier.verify(sign_jwt(claims(now), *old_key_), "files.send");

  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.token->subject, "demo-client");
  EXPECT_EQ(result.token->jti, "jti-1");
  EXPECT_EQ(result.token->authorities, (std::vector<std::string>{"files.send", "files.read"}));
  EXPECT_EQ(epoch_seconds(result.token->expires_at), epoch_seconds(now + seconds(300)));
  EXPECT_EQ(result.token->claims["iss"], kIssuer);
  EXPECT_EQ(error_category(result.status), "ok");
}

// T1: alg "none" with an empty signature.
TEST_F(VerifierTest, RejectsAlgNoneWithEmptySignature) {
  auto verifier = make_verifier();
  for (const nlohmann::json& header :
       {nlohmann::json{{"alg", "none"}, {"typ", "JWT"}},
        nlohmann::json{{"alg", "none"}, {"typ", "JWT"}, {"kid", old_key_->kid()}}}) {
    const VerifyResult result = verifier.verify(unsigned_token(header, claims(), ""), "");
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.status, TokenStatus::kBadAlgorithm) << result.reason;
    EXPECT_EQ(error_category(result.status), "unauthorized");
  }
}

// The classic key-confusion attack: HMAC keyed with the bytes of the published public key.
TEST_F(VerifierTest, RejectsHs256SignedWithThePublicKeyBytes) {
  auto verifier = make_verifier();
  const nlohmann::json header = {{"alg", "HS256"}, {"typ", "JWT"}, {"kid", old_key_->kid()}};
  const std::string signing_input =
      base64url_encode(header.dump()) + "." + base64url_encode(claims().dump());
  const std::string public_key_bytes = old_key_->public_jwk().dump();
  std::string mac(EVP_MAX_MD_SIZE, '\0');
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), public_key_bytes.data(), static_cast<int>(public_key_bytes.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(),
       reinterpret_cast<unsigned char*>(mac.data()), &mac_size);
  mac.resize(mac_size);

  const VerifyResult result = verifier.verify(signing_input + "." + base64url_encode(mac), "");

  EXPECT_EQ(result.status, TokenStatus::kBadAlgorithm) << result.reason;
}

TEST_F(VerifierTest, RejectsAnAlgorithmOtherThanTheKeys) {
  auto verifier = make_verifier();
  const std::string genuine = sign_jwt(claims(), *old_key_);
  const nlohmann::json header = {{"alg", "RS512"}, {"typ", "JWT"}, {"kid", old_key_->kid()}};
  const std::string relabelled =
      base64url_encode(header.dump()) + genuine.substr(genuine.find('.'));

  EXPECT_EQ(verifier.verify(relabelled, "").status, TokenStatus::kBadAlgorithm);
}

TEST_F(VerifierTest, RejectsATamperedPayload) {
  auto verifier = make_verifier();
  const std::string genuine = sign_jwt(claims(), *old_key_);
  nlohmann::json forged = claims();
  forged["scope"] = "files.send files.reply admin";
  const auto first_dot = genuine.find('.');
  const auto second_dot = genuine.find('.', first_dot + 1);
  const std::string tampered = genuine.substr(0, first_dot + 1) + base64url_encode(forged.dump()) +
                               genuine.substr(second_dot);

  const VerifyResult result = verifier.verify(tampered, "");

  EXPECT_EQ(result.status, TokenStatus::kBadSignature);
  EXPECT_EQ(result.reason.find(genuine.substr(second_dot + 1)), std::string::npos)
      << "the reason must not echo the token";
}

TEST_F(VerifierTest, RejectsATokenFromAnUnknownKey) {
  auto verifier = make_verifier();
  EXPECT_EQ(verifier.verify(sign_jwt(claims(), stranger_key()), "").status,
            TokenStatus::kUnknownKey);
}

// T2: the auth server rotated its key; the verifier holds the old key set.
TEST_F(VerifierTest, RotatedKeyIsPickedUpWithOneRefresh) {
  auto verifier = make_verifier(seconds(1));
  ASSERT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "").ok());
  ASSERT_EQ(jwks_.calls(), 1);

  jwks_.serve(jwks_of({old_key_, &new_key()}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const VerifyResult rotated = verifier.verify(sign_jwt(claims(), new_key()), "");
  const VerifyResult again = verifier.verify(sign_jwt(claims(), new_key()), "");
  const VerifyResult overlap = verifier.verify(sign_jwt(claims(), *old_key_), "");

  EXPECT_TRUE(rotated.ok()) << rotated.reason;
  EXPECT_TRUE(again.ok()) << again.reason;
  EXPECT_TRUE(overlap.ok()) << overlap.reason;
  EXPECT_EQ(jwks_.calls(), 2);
}

TEST_F(VerifierTest, UnknownKidRefreshesAtMostOncePerInterval) {
  auto verifier = make_verifier(seconds(1));
  ASSERT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));

  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 5; ++j) {
        EXPECT_EQ(verifier.verify(sign_jwt(claims(), stranger_key()), "").status,
                  TokenStatus::kUnknownKey);
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }

  EXPECT_EQ(jwks_.calls(), 2) << "20 tokens with an unknown kid must cause one refresh";
}

// An unknown key says whether the key set could be brought up to date, and when it next may:
// consumers then try again instead of refusing for good (issue 6: auth restarted with a new
// key while the first fetch was recent or auth was away).
TEST_F(VerifierTest, UnknownKeyTellsWhetherTheKeySetCouldBeRefreshed) {
  auto verifier = make_verifier(seconds(2));
  ASSERT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "").ok());

  const VerifyResult held_back = verifier.verify(sign_jwt(claims(), new_key()), "");
  EXPECT_EQ(held_back.status, TokenStatus::kUnknownKey);
  EXPECT_TRUE(held_back.key_set_stale);
  EXPECT_GT(verifier.refresh_possible_in(), std::chrono::milliseconds(0));
  EXPECT_LE(verifier.refresh_possible_in(), std::chrono::milliseconds(2000));

  jwks_.serve(std::nullopt);
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(verifier.refresh_possible_in(), std::chrono::milliseconds(0));
  const VerifyResult unreachable = verifier.verify(sign_jwt(claims(), new_key()), "");
  EXPECT_EQ(unreachable.status, TokenStatus::kUnknownKey);
  EXPECT_TRUE(unreachable.key_set_stale);

  jwks_.serve(jwks_of({old_key_, &new_key()}));
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  const VerifyResult stranger = verifier.verify(sign_jwt(claims(), stranger_key()), "");
  EXPECT_EQ(stranger.status, TokenStatus::kUnknownKey);
  EXPECT_FALSE(stranger.key_set_stale) << "a fresh key set without the key is final";
  EXPECT_TRUE(verifier.verify(sign_jwt(claims(), new_key()), "").ok());
}

// T2: a failing key endpoint must never empty the cache.
TEST_F(VerifierTest, FailedOrEmptyRefreshKeepsTheCachedKeys) {
  auto verifier = make_verifier(seconds(1));
  const std::string token = sign_jwt(claims(), *old_key_);
  ASSERT_TRUE(verifier.verify(token, "").ok());

  for (const std::optional<std::string>& answer :
       {std::optional<std::string>(), std::optional<std::string>("<html>500</html>"),
        std::optional<std::string>(R"({"keys":[]})")}) {
    jwks_.serve(answer);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    const int calls_before = jwks_.calls();
    EXPECT_EQ(verifier.verify(sign_jwt(claims(), stranger_key()), "").status,
              TokenStatus::kUnknownKey);
    EXPECT_EQ(jwks_.calls(), calls_before + 1);
    const VerifyResult cached = verifier.verify(token, "");
    EXPECT_TRUE(cached.ok()) << cached.reason;
  }
}

// T3: the verifier's clock is 2 s behind the issuer's; nbf = iat = issuer's now.
TEST_F(VerifierTest, AcceptsNbfAndIatSlightlyAheadWithinLeeway) {
  auto verifier = make_verifier(seconds(30), [] { return system_clock::now() - seconds(2); });
  const VerifyResult result = verifier.verify(sign_jwt(claims(), *old_key_), "");
  EXPECT_TRUE(result.ok()) << result.reason;
}

TEST_F(VerifierTest, RejectsNbfOrIatBeyondTheLeeway) {
  auto verifier = make_verifier(seconds(30), [] { return system_clock::now() - seconds(120); });
  nlohmann::json without_nbf = claims();
  without_nbf.erase("nbf");

  EXPECT_EQ(verifier.verify(sign_jwt(claims(), *old_key_), "").status, TokenStatus::kNotYetValid);
  EXPECT_EQ(verifier.verify(sign_jwt(without_nbf, *old_key_), "").status,
            TokenStatus::kNotYetValid);
}

// T4: padding, '+' and '/' are not base64url; all rejected before any JSON is parsed (the key
// set, looked up after the header is parsed, is never fetched).
TEST_F(VerifierTest, RejectsNonStrictBase64urlBeforeParsing) {
  auto verifier = make_verifier();
  const std::string genuine = sign_jwt(claims(), *old_key_);
  const auto first_dot = genuine.find('.');
  const std::string header = genuine.substr(0, first_dot);
  const std::string rest = genuine.substr(first_dot);

  const auto join = [](std::initializer_list<std::string_view> parts) {
    std::string joined;
    for (const auto part : parts) {
      joined += part;
    }
    return joined;
  };
  const std::string head = header.substr(0, 4);
  const std::string tail = header.substr(5);

  for (const std::string& token :
       {join({header, "=", rest}), join({header, "==", rest}), join({head, "+", tail, rest}),
        join({head, "/", tail, rest}), join({genuine, "="}), join({header, " ", rest})}) {
    const VerifyResult result = verifier.verify(token, "");
    EXPECT_EQ(result.status, TokenStatus::kMalformed) << result.reason;
  }
  EXPECT_EQ(jwks_.calls(), 0);
}

TEST_F(VerifierTest, RejectsWrongSegmentCounts) {
  auto verifier = make_verifier();
  const std::string genuine = sign_jwt(claims(), *old_key_);
  for (const std::string& token :
       {std::string(), std::string("abc"), genuine.substr(0, genuine.rfind('.')), genuine + ".x",
        std::string("..")}) {
    EXPECT_EQ(verifier.verify(token, "").status, TokenStatus::kMalformed) << token;
  }
}

TEST_F(VerifierTest, RejectsAOneMegabyteTokenBySizeFirst) {
  auto verifier = make_verifier();
  std::string huge(1 << 20, 'a');
  huge[100] = '.';
  huge[200] = '.';

  const VerifyResult result = verifier.verify(huge, "");

  EXPECT_EQ(result.status, TokenStatus::kTooLarge);
  EXPECT_EQ(jwks_.calls(), 0);
  EXPECT_LT(result.reason.size(), 200u);
}

// T5: a 300-second token that waited 10 minutes in the queue.
TEST_F(VerifierTest, ExpiredTokenHasItsOwnCategory) {
  auto verifier = make_verifier();
  const VerifyResult result = verifier.verify(
      sign_jwt(claims(system_clock::now() - seconds(600)), *old_key_), "files.send");

  EXPECT_EQ(result.status, TokenStatus::kExpired);
  EXPECT_EQ(error_category(result.status), "token-expired");
  EXPECT_FALSE(result.token.has_value());
}

TEST_F(VerifierTest, ExpiryWithinLeewayIsAccepted) {
  auto verifier = make_verifier();
  const VerifyResult result =
      verifier.verify(sign_jwt(claims(system_clock::now() - seconds(310)), *old_key_), "");
  EXPECT_TRUE(result.ok()) << result.reason;
}

TEST_F(VerifierTest, RejectsAMissingExp) {
  auto verifier = make_verifier();
  nlohmann::json body = claims();
  body.erase("exp");
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kMalformed);
}

TEST_F(VerifierTest, ChecksIssuer) {
  auto verifier = make_verifier();
  nlohmann::json body = claims();
  body["iss"] = "http://evil.test";
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kWrongIssuer);
  body.erase("iss");
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kWrongIssuer);
}

TEST_F(VerifierTest, ChecksAudienceAsStringOrArray) {
  auto verifier = make_verifier();
  nlohmann::json body = claims();

  body["aud"] = "other-service";
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kWrongAudience);
  body["aud"] = {"other-service", kAudience};
  EXPECT_TRUE(verifier.verify(sign_jwt(body, *old_key_), "").ok());
  body["aud"] = {"other-service", "third"};
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kWrongAudience);
  body.erase("aud");
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kWrongAudience);
}

TEST_F(VerifierTest, MissingAuthorityIsForbidden) {
  auto verifier = make_verifier();
  const VerifyResult result = verifier.verify(sign_jwt(claims(), *old_key_), "files.reply");

  EXPECT_EQ(result.status, TokenStatus::kMissingAuthority);
  EXPECT_EQ(error_category(result.status), "forbidden");
  EXPECT_NE(result.reason.find("files.reply"), std::string::npos);
}

TEST_F(VerifierTest, AuthoritiesComeFromScopeArrayAndAuthoritiesClaim) {
  auto verifier = make_verifier();
  nlohmann::json body = claims();
  body["scope"] = {"files.send"};
  body["authorities"] = {"files.reply"};

  const VerifyResult result = verifier.verify(sign_jwt(body, *old_key_), "files.reply");

  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_EQ(result.token->authorities, (std::vector<std::string>{"files.send", "files.reply"}));
  body["scope"] = 42;
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kMalformed);
}

TEST_F(VerifierTest, OtherAudiencesAreAcceptedToo) {
  VerifierSettings settings{.issuer = kIssuer, .audience = kAudience};
  settings.other_audiences = {"reports"};
  TokenVerifier verifier(settings, jwks_.fetcher());
  nlohmann::json body = claims();

  body["aud"] = "reports";
  EXPECT_TRUE(verifier.verify(sign_jwt(body, *old_key_), "").ok());
  body["aud"] = {"x", "reports"};
  EXPECT_TRUE(verifier.verify(sign_jwt(body, *old_key_), "").ok());
  body["aud"] = "billing";
  EXPECT_EQ(verifier.verify(sign_jwt(body, *old_key_), "").status, TokenStatus::kWrongAudience);
}

TEST_F(VerifierTest, RevocationCheckIsAskedLastAndItsAnswerDecides) {
  std::atomic<int> asked{0};
  RevocationState answer = RevocationState::kActive;
  VerifierSettings settings{.issuer = kIssuer, .audience = kAudience};
  settings.revocation_check = [&](std::string_view, const VerifiedToken& verified) {
    ++asked;
    EXPECT_EQ(verified.jti, "jti-1");
    return answer;
  };
  TokenVerifier verifier(settings, jwks_.fetcher());
  const std::string token = sign_jwt(claims(), *old_key_);

  EXPECT_TRUE(verifier.verify(token, "files.send").ok());
  answer = RevocationState::kRevoked;
  EXPECT_EQ(verifier.verify(token, "files.send").status, TokenStatus::kRevoked);
  answer = RevocationState::kUnknown;
  const VerifyResult unknown = verifier.verify(token, "files.send");
  EXPECT_EQ(unknown.status, TokenStatus::kRevocationUnknown);
  EXPECT_EQ(error_category(unknown.status), "unauthorized");
  EXPECT_EQ(asked, 3);

  // A token refused for its own faults never costs a round trip to the auth server.
  EXPECT_EQ(verifier.verify(token, "files.reply").status, TokenStatus::kMissingAuthority);
  EXPECT_EQ(verifier.verify(sign_jwt(claims(), stranger_key()), "").status,
            TokenStatus::kUnknownKey);
  EXPECT_EQ(asked, 3);
}

TEST_F(VerifierTest, FileBindingMustMatchTheFileItArrivedWith) {
  const FileBinding file{.file_id = "file-1", .sha256 = std::string(64, 'a')};
  nlohmann::json bound = claims();
  bound[kFileIdClaim] = file.file_id;
  bound[kFileSha256Claim] = file.sha256;
  auto verifier = make_verifier();

  EXPECT_TRUE(verifier.verify(sign_jwt(bound, *old_key_), "files.send", file).ok());
  EXPECT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "files.send", file).ok())
      << "binding is off by default: an unbound token still passes";
  const VerifyResult other_id =
      verifier.verify(sign_jwt(bound, *old_key_), "files.send", FileBinding{"file-2", file.sha256});
  const VerifyResult other_content = verifier.verify(
      sign_jwt(bound, *old_key_), "files.send", FileBinding{file.file_id, std::string(64, 'b')});
  EXPECT_EQ(other_id.status, TokenStatus::kWrongFile);
  EXPECT_EQ(other_content.status, TokenStatus::kWrongFile);
  EXPECT_EQ(error_category(other_id.status), "forbidden");
  nlohmann::json half_bound = claims();
  half_bound[kFileIdClaim] = file.file_id;
  EXPECT_EQ(verifier.verify(sign_jwt(half_bound, *old_key_), "files.send", file).status,
            TokenStatus::kWrongFile);
}

TEST_F(VerifierTest, RequiredFileBindingRefusesUnboundTokens) {
  VerifierSettings settings{.issuer = kIssuer, .audience = kAudience};
  settings.require_file_binding = true;
  TokenVerifier verifier(settings, jwks_.fetcher());
  const FileBinding file{.file_id = "file-1", .sha256 = std::string(64, 'a')};

  const VerifyResult unbound = verifier.verify(sign_jwt(claims(), *old_key_), "files.send", file);

  EXPECT_EQ(unbound.status, TokenStatus::kWrongFile) << unbound.reason;
}

TEST_F(VerifierTest, AcceptsEs256TokensFromAnEcKey) {
  const SigningKey ec_key = SigningKey::generate_es256();
  jwks_.serve(jwks_of({old_key_, &ec_key}));
  auto verifier = make_verifier();

  const VerifyResult result = verifier.verify(sign_jwt(claims(), ec_key), "files.send");

  ASSERT_TRUE(result.ok()) << result.reason;
  EXPECT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "files.send").ok());
}

// The algorithm is the key's: an RS256 header on an EC key, or the reverse, is refused before
// any signature check; a DER-encoded or truncated ES256 signature does not verify.
TEST_F(VerifierTest, Es256IsPinnedToEcKeysAndItsSignatureFormat) {
  const SigningKey ec_key = SigningKey::generate_es256();
  jwks_.serve(jwks_of({old_key_, &ec_key}));
  auto verifier = make_verifier();
  const std::string genuine = sign_jwt(claims(), ec_key);
  const auto relabel = [&](const std::string& token, const char* alg, const std::string& kid) {
    const nlohmann::json header = {{"alg", alg}, {"typ", "JWT"}, {"kid", kid}};
    return base64url_encode(header.dump()) + token.substr(token.find('.'));
  };
  const std::string rsa_genuine = sign_jwt(claims(), *old_key_);
  const auto signature = *base64url_decode(genuine.substr(genuine.rfind('.') + 1));
  const std::string truncated =
      genuine.substr(0, genuine.rfind('.') + 1) + base64url_encode(signature.substr(0, 63));
  const std::string doubled =
      genuine.substr(0, genuine.rfind('.') + 1) + base64url_encode(signature + signature);

  EXPECT_EQ(verifier.verify(relabel(genuine, "RS256", ec_key.kid()), "").status,
            TokenStatus::kBadAlgorithm);
  EXPECT_EQ(verifier.verify(relabel(rsa_genuine, "ES256", old_key_->kid()), "").status,
            TokenStatus::kBadAlgorithm);
  EXPECT_EQ(verifier.verify(relabel(genuine, "ES384", ec_key.kid()), "").status,
            TokenStatus::kBadAlgorithm);
  EXPECT_EQ(verifier.verify(truncated, "").status, TokenStatus::kBadSignature);
  EXPECT_EQ(verifier.verify(doubled, "").status, TokenStatus::kBadSignature);
}

// An EC key whose point is not on P-256 (an invalid-curve attack) never enters the key set.
TEST_F(VerifierTest, EcKeyOffTheCurveIsSkipped) {
  const SigningKey ec_key = SigningKey::generate_es256();
  nlohmann::json jwk = ec_key.public_jwk();
  std::string y = *base64url_decode(jwk["y"].get<std::string>());
  y[31] = static_cast<char>(y[31] ^ 1);
  jwk["y"] = base64url_encode(y);
  jwks_.serve(nlohmann::json{{"keys", {old_key_->public_jwk(), jwk}}}.dump());
  auto verifier = make_verifier();

  EXPECT_EQ(verifier.verify(sign_jwt(claims(), ec_key), "").status, TokenStatus::kUnknownKey);
  EXPECT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "").ok());
}

// Keys named by the token itself (jwk, jku, x5u headers) are never trusted or fetched: only the
// configured key set counts, so a token carrying the attacker's own key is an unknown key.
TEST_F(VerifierTest, IgnoresKeysTheTokenBringsAlong) {
  auto verifier = make_verifier();
  ASSERT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "").ok());
  const SigningKey& attacker = stranger_key();
  const std::string genuine = sign_jwt(claims(), attacker);
  const auto with_header = [&](const nlohmann::json& extra) {
    nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", attacker.kid()}};
    header.update(extra);
    const std::string signing_input =
        base64url_encode(header.dump()) +
        genuine.substr(genuine.find('.'), genuine.rfind('.') - genuine.find('.'));
    return signing_input + "." + base64url_encode(attacker.sign(signing_input));
  };
  const int calls_before = jwks_.calls();

  for (const nlohmann::json& extra : {nlohmann::json{{"jwk", attacker.public_jwk()}},
                                      nlohmann::json{{"jku", "http://attacker.test/jwks"}},
                                      nlohmann::json{{"x5u", "http://attacker.test/cert.pem"}}}) {
    const VerifyResult result = verifier.verify(with_header(extra), "");
    EXPECT_EQ(result.status, TokenStatus::kUnknownKey) << extra.dump();
  }
  EXPECT_LE(jwks_.calls(), calls_before + 1) << "only the configured key set is ever fetched";
}

TEST_F(VerifierTest, RejectsCriticalHeadersMissingKidAndNonNumericDates) {
  auto verifier = make_verifier();
  const std::string genuine = sign_jwt(claims(), *old_key_);
  const auto relabel = [&](const nlohmann::json& header) {
    const std::string signing_input =
        base64url_encode(header.dump()) +
        genuine.substr(genuine.find('.'), genuine.rfind('.') - genuine.find('.'));
    return signing_input + "." + base64url_encode(old_key_->sign(signing_input));
  };
  nlohmann::json string_exp = claims();
  string_exp["exp"] = std::to_string(string_exp["exp"].get<std::int64_t>());
  nlohmann::json huge_exp = claims();
  huge_exp["exp"] = 1e300;

  EXPECT_EQ(
      verifier.verify(relabel({{"alg", "RS256"}, {"kid", old_key_->kid()}, {"crit", {"exp"}}}), "")
          .status,
      TokenStatus::kMalformed);
  EXPECT_EQ(verifier.verify(relabel({{"alg", "RS256"}}), "").status, TokenStatus::kUnknownKey);
  EXPECT_EQ(verifier.verify(sign_jwt(string_exp, *old_key_), "").status, TokenStatus::kMalformed);
  EXPECT_EQ(verifier.verify(sign_jwt(huge_exp, *old_key_), "").status, TokenStatus::kMalformed);
}

// A JWKS may hold weak or foreign keys; they never enter the key set.
TEST_F(VerifierTest, SkipsShortRsaKeysAndKeysNotForSignatures) {
  nlohmann::json short_key = old_key_->public_jwk();
  short_key["kid"] = "short";
  short_key["n"] = base64url_encode(std::string(128, '\xff'));  // a 1024-bit modulus
  nlohmann::json encryption_key = new_key().public_jwk();
  encryption_key["use"] = "enc";
  jwks_.serve(nlohmann::json{{"keys", {old_key_->public_jwk(), short_key, encryption_key}}}.dump());
  auto verifier = make_verifier();

  const nlohmann::json short_header = {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "short"}};
  const std::string signing_input =
      base64url_encode(short_header.dump()) + "." + base64url_encode(claims().dump());
  const std::string named_short =
      signing_input + "." + base64url_encode(old_key_->sign(signing_input));

  EXPECT_TRUE(verifier.verify(sign_jwt(claims(), *old_key_), "").ok());
  EXPECT_EQ(verifier.verify(named_short, "").status, TokenStatus::kUnknownKey);
  EXPECT_EQ(verifier.verify(sign_jwt(claims(), new_key()), "").status, TokenStatus::kUnknownKey);
}

TEST(TokenVerifierSettings, EmptyIssuerOrAudienceIsRefused) {
  const JwksFetcher fetcher = [] { return std::optional<std::string>(); };
  EXPECT_THROW(TokenVerifier(VerifierSettings{.issuer = "", .audience = "a"}, fetcher),
               std::invalid_argument);
  EXPECT_THROW(TokenVerifier(VerifierSettings{.issuer = "i", .audience = ""}, fetcher),
               std::invalid_argument);
}

}  // namespace
}  // namespace claimcheck::token
