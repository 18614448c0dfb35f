// Prints every operator schema registered in the linked libtorch, one per line, sorted.
// scripts/gen-ops.mjs turns the allow-listed ones into the addon's op table and TypeScript types.
#include <ATen/core/dispatch/Dispatcher.h>
#include <algorithm>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main() {
  auto& d = c10::Dispatcher::singleton();
  std::vector<std::string> lines;
  for (const auto& name : d.getAllOpNames()) {
    auto h = d.findSchema(name);
    if (!h || !h->hasSchema()) continue;
    std::ostringstream os;
    os << h->schema();
    lines.push_back(os.str());
  }
  std::sort(lines.begin(), lines.end());
  for (const auto& l : lines) std::cout << l << "\n";
  return 0;
}
