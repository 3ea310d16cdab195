#pragma once

// Eureka's XML wire format, as Netflix's XStream codec writes it, mapped onto the same JSON
// documents the rest of the registry works with. The mapping is the one Eureka's own JSON codec
// follows: an XML attribute is a "@name" member, an element's text next to attributes is "$",
// repeated child elements are an array, and a leaf element is its text. The one name that
// differs between the two formats (overriddenstatus in XML, overriddenStatus in JSON) is
// translated both ways.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

namespace claimcheck::registry::eureka {

/// `document` (one top-level member, e.g. {"instance": {...}}) as an XML document whose root
/// element is that member's name.
std::string to_xml(const nlohmann::json& document);

/// The JSON form of an XML document, {"<root>": {...}}; a reason naming the parse error and
/// its byte offset when `text` is not well-formed XML.
std::variant<nlohmann::json, std::string> from_xml(std::string_view text);

}  // namespace claimcheck::registry::eureka
