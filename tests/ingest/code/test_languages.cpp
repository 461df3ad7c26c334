// Outlines of small hand-written sources, one language at a time: names,
// qualified names, signatures, kinds, nesting and line ranges.
#include <doctest/doctest.h>

#include <atomic>
#include <string>

#include "ingest/code/code_parser.hpp"
#include "ingest/code/language.hpp"
#include "ingest/code/macro_blanking.hpp"
#include "runtime/common/error.hpp"

using namespace folio::ingest::code;

namespace {

CodeOutline parse(Language language, std::string_view source, std::string module = {}) {
  CodeParser parser;
  ParseOptions options;
  options.module = std::move(module);
  return parser.parse("snippet", source, language, options);
}

const CodeSymbol* find(const CodeOutline& outline, std::string_view qualified) {
  for (const auto& s : outline.symbols)
    if (s.qualified_name == qualified) return &s;
  return nullptr;
}

// The symbol, or a failed check naming what was missing and what exists.
const CodeSymbol& require(const CodeOutline& outline, std::string_view qualified) {
  const CodeSymbol* s = find(outline, qualified);
  if (s == nullptr) {
    std::string have;
    for (const auto& sym : outline.symbols) have += "  " + sym.qualified_name + "\n";
    FAIL("no symbol " << qualified << "; have:\n" << have);
  }
  return *s;
}

const CodeSymbol* parent_of(const CodeOutline& outline, const CodeSymbol& s) {
  return s.parent == kNoParent ? nullptr : &outline.symbols[s.parent];
}

}  // namespace

TEST_CASE("language detection by extension and shebang") {
  CHECK(detect_language("src/a.cpp", "") == Language::cpp);
  CHECK(detect_language("A.C", "") == Language::cpp);
  CHECK(detect_language("x.c", "") == Language::c);
  CHECK(detect_language("x.h", "int f(void);\n") == Language::c);
  CHECK(detect_language("x.h", "namespace a { class B; }\n") == Language::cpp);
  CHECK(detect_language("k.cu", "") == Language::cpp);
  CHECK(detect_language("m.PY", "") == Language::python);
  CHECK(detect_language("types.d.ts", "") == Language::typescript);
  CHECK(detect_language("App.tsx", "") == Language::tsx);
  CHECK(detect_language("main.go", "") == Language::go);
  CHECK(detect_language("lib.rs", "") == Language::rust);
  CHECK(detect_language("Main.java", "") == Language::java);
  CHECK(detect_language("index.mjs", "") == Language::javascript);
  CHECK(detect_language("tool", "#!/usr/bin/env python3\nprint(1)\n") == Language::python);
  CHECK(detect_language("tool", "#!/usr/bin/env -S node --harmony\n") == Language::javascript);
  CHECK(detect_language("tool", "#!/bin/sh\necho\n") == std::nullopt);
  CHECK(detect_language("README", "hello") == std::nullopt);
  CHECK(detect_language(".bashrc", "") == std::nullopt);
  for (size_t i = 0; i < kLanguageCount; ++i) {
    auto language = Language(i);
    CHECK(language_from_name(language_name(language)) == language);
    CHECK(tree_sitter_language(language) != nullptr);
  }
}

TEST_CASE("C++: namespaces, classes, inline and out-of-line methods, templates") {
  const char* source =
      "#include <vector>\n"                                   // 1
      "namespace folio {\n"                                   // 2
      "namespace {\n"                                         // 3
      "int helper(int x) { return x; }\n"                     // 4
      "}\n"                                                   // 5
      "template <typename T>\n"                               // 6
      "class Store : public Base {\n"                         // 7
      " public:\n"                                            // 8
      "  void put(const T& v) { items_.push_back(v); }\n"     // 9
      "  struct Inner { int get() const { return 1; } };\n"   // 10
      "  bool operator==(const Store& o) const;\n"            // 11
      "  ~Store() {}\n"                                       // 12
      "};\n"                                                  // 13
      "int\n"                                                 // 14
      "Store2::get(int a,\n"                                  // 15
      "            int b) const\n"                            // 16
      "{\n"                                                   // 17
      "  return a;\n"                                         // 18
      "}\n"                                                   // 19
      "namespace a::b { enum class Color { red }; }\n"        // 20
      "}  // namespace folio\n"                               // 21
      "typedef struct { int x; } Point;\n"                    // 22
      "struct Forward;\n";                                    // 23
  CodeOutline o = parse(Language::cpp, source);
  CHECK(o.syntax_errors == 0);
  CHECK(o.lines == 23);

  const CodeSymbol& ns = require(o, "folio");
  CHECK(ns.kind == SymbolKind::namespace_);
  CHECK(ns.line_begin == 2);
  CHECK(ns.line_end == 21);

  // Anonymous namespaces add nothing to qualified names.
  const CodeSymbol& helper = require(o, "folio::helper");
  CHECK(helper.kind == SymbolKind::function);
  CHECK(helper.signature == "int helper(int x)");
  REQUIRE(parent_of(o, helper) != nullptr);
  CHECK(parent_of(o, helper)->name == "(anonymous)");

  // The template header belongs to the class unit and its signature.
  const CodeSymbol& store = require(o, "folio::Store");
  CHECK(store.kind == SymbolKind::class_);
  CHECK(store.line_begin == 6);
  CHECK(store.name_line == 7);
  CHECK(store.line_end == 13);
  CHECK(store.signature == "template <typename T> class Store : public Base");
  CHECK(store.label == "template <typename T> class folio::Store : public Base");

  const CodeSymbol& put = require(o, "folio::Store::put");
  CHECK(put.kind == SymbolKind::method);
  CHECK(put.signature == "void put(const T& v)");
  CHECK(put.label == "void folio::Store::put(const T& v)");
  CHECK(parent_of(o, put) == &store);

  const CodeSymbol& get = require(o, "folio::Store::Inner::get");
  CHECK(get.depth == 3);
  CHECK(parent_of(o, *parent_of(o, get))->name == "Store");

  // A declaration without a body is not a definition.
  CHECK(find(o, "folio::Store::operator==") == nullptr);
  CHECK(require(o, "folio::Store::~Store").name == "~Store");

  // Out-of-line: name and qualified name from the declarator; multi-line
  // signatures collapse; the name line is where the name is.
  const CodeSymbol& get2 = require(o, "folio::Store2::get");
  CHECK(get2.name == "get");
  CHECK(get2.kind == SymbolKind::method);
  CHECK(get2.signature == "int Store2::get(int a, int b) const");
  CHECK(get2.line_begin == 14);
  CHECK(get2.name_line == 15);
  CHECK(get2.line_end == 19);

  CHECK(require(o, "folio::a::b::Color").kind == SymbolKind::enum_);
  const CodeSymbol& point = require(o, "Point");
  CHECK(point.kind == SymbolKind::struct_);
  CHECK(point.signature == "typedef struct Point");
  CHECK(find(o, "Forward") == nullptr);

  // Byte ranges delimit the unit text exactly.
  std::string_view text(source);
  CHECK(text.substr(helper.byte_begin, helper.byte_end - helper.byte_begin) == "int helper(int x) { return x; }");
  CHECK(text.substr(point.byte_begin, point.byte_end - point.byte_begin) == "typedef struct { int x; } Point;");
}

TEST_CASE("C++: export macros between the class keyword and the name") {
  const char* source =
      "class FOLIO_API Exception : public std::runtime_error {\n"
      " public:\n"
      "  Exception(int s) : std::runtime_error(\"x\"), s_(s) {}\n"
      "  int status() const noexcept { return s_; }\n"
      " private:\n"
      "  int s_;\n"
      "};\n"
      "struct A_EXPORT B_DEPRECATED Point final { int x; };\n"
      "struct Foo bar{1};\n";  // not a macro: left alone
  CodeOutline o = parse(Language::cpp, source);
  const CodeSymbol& ex = require(o, "Exception");
  CHECK(ex.kind == SymbolKind::class_);
  CHECK(ex.signature == "class FOLIO_API Exception : public std::runtime_error");  // original text
  CHECK(require(o, "Exception::Exception").kind == SymbolKind::method);
  CHECK(require(o, "Exception::Exception").signature == "Exception(int s)");  // no member initialisers
  CHECK(require(o, "Exception::status").name_line == 4);
  CHECK(require(o, "Point").signature == "struct A_EXPORT B_DEPRECATED Point final");
  CHECK(find(o, "bar") == nullptr);
  CHECK(find(o, "Foo") == nullptr);
  CHECK_FALSE(blank_type_export_macros("struct Foo bar{1};").has_value());
  CHECK_FALSE(blank_type_export_macros("class A::B {};").has_value());
  auto blanked = blank_type_export_macros("class X_API Y {};");
  REQUIRE(blanked.has_value());
  CHECK(*blanked == "class       Y {};");
}

TEST_CASE("C: functions with pointer declarators, structs, unions, enums") {
  CodeOutline o = parse(Language::c,
                        "static const char *\n"
                        "name_of(int k)\n"
                        "{ return 0; }\n"
                        "int (*pick(void))(int) { return 0; }\n"
                        "struct node { struct node *next; };\n"
                        "union u { int i; float f; };\n"
                        "enum color { RED, GREEN };\n");
  const CodeSymbol& name_of = require(o, "name_of");
  CHECK(name_of.line_begin == 1);
  CHECK(name_of.name_line == 2);
  CHECK(name_of.signature == "static const char * name_of(int k)");
  CHECK(require(o, "pick").kind == SymbolKind::function);
  CHECK(require(o, "node").kind == SymbolKind::struct_);
  CHECK(require(o, "u").kind == SymbolKind::union_);
  CHECK(require(o, "color").kind == SymbolKind::enum_);
}

TEST_CASE("Python: module-qualified names, nested classes, decorators, async") {
  const char* source =
      "import os\n"                                   // 1
      "class A(Base):\n"                              // 2
      "    \"\"\"doc\"\"\"\n"                         // 3
      "    @property\n"                               // 4
      "    def x(self) -> int:\n"                     // 5
      "        return 1\n"                            // 6
      "    class Inner:\n"                            // 7
      "        async def run(self, *args,\n"          // 8
      "                      **kw):\n"                // 9
      "            def nested():\n"                   // 10
      "                pass\n"                        // 11
      "def top(a: int = 3):  # why\n"                 // 12
      "    pass\n";                                   // 13
  CodeOutline o = parse(Language::python, source, python_module_name("pkg/mod.py"));
  CHECK(o.scope_prefix == "pkg.mod");
  const CodeSymbol& a = require(o, "pkg.mod.A");
  CHECK(a.kind == SymbolKind::class_);
  CHECK(a.signature == "class A(Base)");
  CHECK(a.line_end == 11);

  // The decorator starts the unit; the signature and the name line are the def.
  const CodeSymbol& x = require(o, "pkg.mod.A.x");
  CHECK(x.kind == SymbolKind::method);
  CHECK(x.line_begin == 4);
  CHECK(x.name_line == 5);
  CHECK(x.signature == "def x(self) -> int");
  CHECK(x.label == "def pkg.mod.A.x(self) -> int");

  const CodeSymbol& run = require(o, "pkg.mod.A.Inner.run");
  CHECK(run.signature == "async def run(self, *args, **kw)");
  CHECK(run.kind == SymbolKind::method);
  const CodeSymbol& nested = require(o, "pkg.mod.A.Inner.run.nested");
  CHECK(nested.kind == SymbolKind::function);
  CHECK(nested.depth == 3);

  // A comment after the colon is not part of the signature.
  CHECK(require(o, "pkg.mod.top").signature == "def top(a: int = 3)");
}

TEST_CASE("python_module_name") {
  CHECK(python_module_name("email/mime/text.py") == "email.mime.text");
  CHECK(python_module_name("pkg/__init__.py") == "pkg");
  CHECK(python_module_name("setup.py") == "setup");
  CHECK(python_module_name("./a/b.pyi") == "a.b");
  CHECK(python_module_name("__init__.py").empty());
  CHECK(python_module_name("/usr/lib/python3.11/asyncio/coroutines.py") == "coroutines");
  CHECK(python_module_name("../other/pkg/m.py") == "other.pkg.m");
}

TEST_CASE("Go: package prefix, methods with receivers, type specs") {
  const char* source =
      "package store\n"
      "\n"
      "type Store[K comparable] struct {\n"
      "\titems map[K]int\n"
      "}\n"
      "\n"
      "type (\n"
      "\tReader interface { Read() int }\n"
      "\tCelsius float64\n"
      ")\n"
      "\n"
      "func (s *Store[K]) Put(k K) { s.items[k] = 1 }\n"
      "func (s Store[K]) Len() int { return 0 }\n"
      "\n"
      "func New() *Store[string] {\n"
      "\treturn nil\n"
      "}\n";
  CodeOutline o = parse(Language::go, source);
  const CodeSymbol& store = require(o, "store.Store");
  CHECK(store.kind == SymbolKind::struct_);
  CHECK(store.signature == "type Store[K comparable] struct");
  CHECK(store.line_begin == 3);
  CHECK(store.line_end == 5);
  CHECK(require(o, "store.Reader").kind == SymbolKind::interface);
  const CodeSymbol& celsius = require(o, "store.Celsius");
  CHECK(celsius.kind == SymbolKind::type);
  CHECK(celsius.signature == "type Celsius float64");

  const CodeSymbol& put = require(o, "store.Store.Put");
  CHECK(put.kind == SymbolKind::method);
  CHECK(put.name == "Put");
  CHECK(put.signature == "func (s *Store[K]) Put(k K)");
  CHECK(put.name_line == 12);
  CHECK(require(o, "store.Store.Len").kind == SymbolKind::method);
  CHECK(require(o, "store.New").signature == "func New() *Store[string]");
}

TEST_CASE("Rust: modules, impl blocks, traits") {
  const char* source =
      "mod inner {\n"
      "    pub struct Point { x: i32 }\n"
      "    impl<T: Clone> Display for Wrapper<T> {\n"
      "        fn fmt(&self, f: &mut Formatter) -> Result { Ok(()) }\n"
      "    }\n"
      "    impl Point {\n"
      "        pub fn new() -> Self { Point { x: 0 } }\n"
      "    }\n"
      "    pub trait Shape {\n"
      "        fn area(&self) -> f64;\n"
      "        fn name(&self) -> String { String::new() }\n"
      "    }\n"
      "}\n"
      "enum E { A, B }\n"
      "fn main() {}\n"
      "mod elsewhere;\n";
  CodeOutline o = parse(Language::rust, source);
  CHECK(require(o, "inner").kind == SymbolKind::namespace_);
  CHECK(require(o, "inner::Point").kind == SymbolKind::struct_);
  const CodeSymbol& impl = require(o, "inner::Wrapper");
  CHECK(impl.kind == SymbolKind::impl);
  CHECK(impl.signature == "impl<T: Clone> Display for Wrapper<T>");
  const CodeSymbol& fmt = require(o, "inner::Wrapper::fmt");
  CHECK(fmt.kind == SymbolKind::method);
  CHECK(fmt.signature == "fn fmt(&self, f: &mut Formatter) -> Result");
  CHECK(require(o, "inner::Point::new").kind == SymbolKind::method);
  CHECK(require(o, "inner::Shape").kind == SymbolKind::trait);
  CHECK(require(o, "inner::Shape::area").signature == "fn area(&self) -> f64");
  CHECK(require(o, "inner::Shape::name").kind == SymbolKind::method);
  CHECK(require(o, "E").kind == SymbolKind::enum_);
  CHECK(require(o, "main").kind == SymbolKind::function);
  CHECK(find(o, "elsewhere") == nullptr);
}

TEST_CASE("Java: package prefix, constructors, inner classes, interfaces, enums") {
  const char* source =
      "package com.example.app;\n"
      "public class Outer {\n"
      "    private int x;\n"
      "    public Outer(int x) { this.x = x; }\n"
      "    @Override public String toString() { return \"\"; }\n"
      "    static class Inner implements Runnable {\n"
      "        public void run() {}\n"
      "        class Deeper { void go() {} }\n"
      "    }\n"
      "    interface Cb { void call(int v); }\n"
      "    enum Mode { ON, OFF }\n"
      "    record Pair(int a, int b) {}\n"
      "}\n";
  CodeOutline o = parse(Language::java, source);
  CHECK(o.scope_prefix == "com.example.app");
  CHECK(require(o, "com.example.app.Outer").kind == SymbolKind::class_);
  const CodeSymbol& ctor = require(o, "com.example.app.Outer.Outer");
  CHECK(ctor.kind == SymbolKind::constructor);
  CHECK(ctor.signature == "public Outer(int x)");
  CHECK(require(o, "com.example.app.Outer.toString").signature == "@Override public String toString()");
  CHECK(require(o, "com.example.app.Outer.Inner").signature == "static class Inner implements Runnable");
  CHECK(require(o, "com.example.app.Outer.Inner.run").kind == SymbolKind::method);
  const CodeSymbol& go = require(o, "com.example.app.Outer.Inner.Deeper.go");
  CHECK(go.depth == 3);
  CHECK(require(o, "com.example.app.Outer.Cb").kind == SymbolKind::interface);
  CHECK(require(o, "com.example.app.Outer.Cb.call").signature == "void call(int v)");
  CHECK(require(o, "com.example.app.Outer.Mode").kind == SymbolKind::enum_);
  CHECK(require(o, "com.example.app.Outer.Pair").kind == SymbolKind::class_);
}

TEST_CASE("TypeScript: interfaces, namespaces, classes, arrow functions, enums, aliases") {
  const char* source =
      "export interface Shape { area(): number; name: string }\n"
      "namespace Geo {\n"
      "  export class Circle implements Shape {\n"
      "    constructor(private r: number) {}\n"
      "    area(): number { return 1; }\n"
      "    get name() { return \"c\"; }\n"
      "  }\n"
      "}\n"
      "export const make = (r: number): Shape => new Geo.Circle(r);\n"
      "function* gen() { yield 1; }\n"
      "enum Color { Red }\n"
      "type Pair = [number, number];\n"
      "abstract class Base { abstract go(): void; }\n";
  CodeOutline o = parse(Language::typescript, source);
  const CodeSymbol& shape = require(o, "Shape");
  CHECK(shape.kind == SymbolKind::interface);
  CHECK(require(o, "Shape.area").kind == SymbolKind::method);
  CHECK(require(o, "Geo").kind == SymbolKind::namespace_);
  CHECK(require(o, "Geo.Circle").signature == "export class Circle implements Shape");
  CHECK(require(o, "Geo.Circle.constructor").signature == "constructor(private r: number)");
  CHECK(require(o, "Geo.Circle.area").signature == "area(): number");
  CHECK(require(o, "Geo.Circle.name").signature == "get name()");
  const CodeSymbol& make = require(o, "make");
  CHECK(make.kind == SymbolKind::function);
  CHECK(make.signature == "const make = (r: number): Shape =>");
  CHECK(require(o, "gen").kind == SymbolKind::function);
  CHECK(require(o, "Color").kind == SymbolKind::enum_);
  CHECK(require(o, "Pair").kind == SymbolKind::type);
  CHECK(require(o, "Base.go").signature == "abstract go(): void");
}

TEST_CASE("TSX and JavaScript: components, prototype assignments, class members") {
  CodeOutline tsx = parse(Language::tsx,
                          "export function App(props: Props) {\n"
                          "  return <div className=\"x\">{props.title}</div>;\n"
                          "}\n"
                          "const Button = ({ label }: { label: string }) => <button>{label}</button>;\n");
  CHECK(tsx.syntax_errors == 0);
  CHECK(require(tsx, "App").signature == "export function App(props: Props)");
  CHECK(require(tsx, "Button").kind == SymbolKind::function);

  CodeOutline js = parse(Language::javascript,
                         "class A { #priv() {} static s() {} }\n"
                         "function f() { const inner = function () {}; }\n"
                         "module.exports.g = function (a, b) { return a + b; };\n"
                         "Foo.prototype.bar = () => 1;\n"
                         "let x = 1, y = () => 2;\n"
                         "const { p, q } = obj;\n");
  CHECK(require(js, "A.#priv").kind == SymbolKind::method);
  CHECK(require(js, "A.s").signature == "static s()");
  CHECK(require(js, "f.inner").kind == SymbolKind::function);
  const CodeSymbol& g = require(js, "module.exports.g");
  CHECK(g.name == "g");
  CHECK(g.label == "module.exports.g = function (a, b)");
  CHECK(require(js, "Foo.prototype.bar").name == "bar");
  CHECK(require(js, "y").kind == SymbolKind::function);
  CHECK(find(js, "x") == nullptr);
  CHECK(js.symbols.size() == 8);  // A, #priv, s, f, inner, g, bar, y
}

TEST_CASE("hostile input: size limit, deep nesting, invalid UTF-8, syntax errors, cancellation") {
  ParseLimits limits;
  limits.max_file_bytes = 64;
  CodeParser small(limits);
  std::string big(65, 'x');
  CHECK_THROWS_AS(small.parse("big.c", big, Language::c), folio::Error);
  try {
    small.parse("big.c", big, Language::c);
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::invalid_argument);
    CHECK(std::string(e.what()).find("big.c") != std::string::npos);
  }

  // 100 000 nested parentheses: the walk must not recurse on the C stack.
  std::string deep = "int f(void) { return " + std::string(100000, '(') + "1" + std::string(100000, ')') + "; }\n";
  CodeParser parser;
  CodeOutline o = parser.parse("deep.c", deep, Language::c);
  CHECK(require(o, "f").kind == SymbolKind::function);

  // Definitions nested beyond the depth limit stay text of their parent, and
  // the outline says so.
  std::string nested;
  for (int i = 0; i < 40; ++i) nested += std::string(size_t(i) * 1, ' ') + "def f" + std::to_string(i) + "():\n";
  nested += std::string(40, ' ') + "pass\n";
  CodeOutline py = parser.parse("nested.py", nested, Language::python);
  CHECK(py.symbols.size() == ParseLimits{}.max_symbol_depth);
  REQUIRE(!py.notes.empty());
  CHECK(py.notes.back().find("nested deeper than 32") != std::string::npos);

  // Invalid UTF-8 in a name is repaired in names and signatures.
  CodeOutline bad = parser.parse("bad.py", "def caf\xC3(x):\n    pass\n", Language::python);
  for (const auto& s : bad.symbols) {
    CHECK(s.signature.find('\xC3') == std::string::npos);
  }

  // Syntax errors are counted and noted; definitions around them survive.
  CodeOutline broken = parser.parse("broken.cpp", "int ok() { return 1; }\nint x = );\nint also() { }\n",
                                    Language::cpp);
  CHECK(broken.syntax_errors > 0);
  CHECK(find(broken, "ok") != nullptr);
  CHECK(find(broken, "also") != nullptr);
  REQUIRE(!broken.notes.empty());
  CHECK(broken.notes.front().find("syntax error") != std::string::npos);

  // A set cancellation flag stops the parse; the parser stays usable.
  std::atomic<size_t> cancel{1};
  ParseOptions options;
  options.cancel = &cancel;
  std::string long_source;
  for (int i = 0; i < 20000; ++i) long_source += "int f" + std::to_string(i) + "(void) { return " + std::to_string(i) + "; }\n";
  try {
    parser.parse("long.c", long_source, Language::c, options);
    FAIL("a cancelled parse returned");
  } catch (const folio::Error& e) {
    CHECK(e.code() == folio::Errc::cancelled);
  }
  CodeOutline after = parser.parse("long.c", long_source, Language::c);
  CHECK(after.symbols.size() == 20000);

  // Empty input is a file without definitions.
  CodeOutline empty = parser.parse("empty.rs", "", Language::rust);
  CHECK(empty.symbols.empty());
  CHECK(empty.lines == 0);
}
