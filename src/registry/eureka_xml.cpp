#include "eureka_xml.hpp"

#include <pugixml.hpp>
#include <sstream>

namespace claimcheck::registry::eureka {
namespace {

using nlohmann::json;

constexpr std::string_view kJsonOverriddenStatus = "overriddenStatus";
constexpr std::string_view kXmlOverriddenStatus = "overriddenstatus";

std::string xml_name(const std::string& json_key) {
  return json_key == kJsonOverriddenStatus ? std::string(kXmlOverriddenStatus) : json_key;
}

std::string json_key(std::string_view xml_name) {
  return std::string(xml_name == kXmlOverriddenStatus ? kJsonOverriddenStatus : xml_name);
}

std::string scalar_text(const json& value) {
  return value.is_string() ? value.get<std::string>()
                           : value.dump(-1, ' ', false, json::error_handler_t::replace);
}

void write_value(pugi::xml_node element, const json& value);

void write_member(pugi::xml_node parent, const std::string& key, const json& value) {
  if (value.is_null()) {
    return;
  }
  if (!key.empty() && key.front() == '@') {
    parent.append_attribute(key.substr(1).c_str()).set_value(scalar_text(value).c_str());
  } else if (key == "$") {
    parent.append_child(pugi::node_pcdata).set_value(scalar_text(value).c_str());
  } else if (value.is_array()) {
    for (const auto& item : value) {
      write_value(parent.append_child(xml_name(key).c_str()), item);
    }
  } else {
    write_value(parent.append_child(xml_name(key).c_str()), value);
  }
}

void write_value(pugi::xml_node element, const json& value) {
  if (!value.is_object()) {
    element.append_child(pugi::node_pcdata).set_value(scalar_text(value).c_str());
    return;
  }
  // Attributes first: pugixml keeps them apart from children anyway, but "$" must come after
  // any attribute for the text to stand alone.
  for (const auto& [key, member] : value.items()) {
    write_member(element, key, member);
  }
}

json read_element(const pugi::xml_node& element) {
  json object = json::object();
  std::string text;
  bool has_children = false;
  for (const auto& attribute : element.attributes()) {
    object["@" + std::string(attribute.name())] = attribute.value();
  }
  for (const auto& child : element.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      text += child.value();
      continue;
    }
    if (child.type() != pugi::node_element) {
      continue;
    }
    has_children = true;
    const std::string key = json_key(child.name());
    json value = read_element(child);
    auto existing = object.find(key);
    if (existing == object.end()) {
      object[key] = std::move(value);
    } else {
      if (!existing->is_array()) {
        *existing = json::array({std::move(*existing)});
      }
      existing->push_back(std::move(value));
    }
  }
  if (!has_children && object.empty()) {
    return text;
  }
  if (!has_children && !text.empty()) {
    object["$"] = text;
  }
  return object;
}

}  // namespace

std::string to_xml(const json& document) {
  pugi::xml_document xml;
  for (const auto& [root, value] : document.items()) {
    write_value(xml.append_child(xml_name(root).c_str()), value);
  }
  std::ostringstream out;
  xml.save(out, "", pugi::format_raw);
  return out.str();
}

std::variant<json, std::string> from_xml(std::string_view text) {
  pugi::xml_document xml;
  const pugi::xml_parse_result parsed = xml.load_buffer(text.data(), text.size());
  if (!parsed) {
    return "Body is not well-formed XML: " + std::string(parsed.description()) + " at byte " +
           std::to_string(parsed.offset);
  }
  const pugi::xml_node root = xml.document_element();
  return json{{json_key(root.name()), read_element(root)}};
}

}  // namespace claimcheck::registry::eureka
