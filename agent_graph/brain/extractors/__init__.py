"""Typed extractors of the offline engine: attribute values found in a customer's text.

Deterministic code, nothing specific to a catalog: every decision comes from the
``Attribute`` (name, description, type, pattern, values, aliases). The text is the
customer's new text (quoted history already removed).

For each attribute, candidates come from two methods:

1. **label** -- the attribute's name (or a short form) followed by ``:``/``is``/``=``/``#``
   and a value valid for the type ("Order number: A-10442"); always preferred;
2. **type-specific** finders (pattern, email, phone, date, number, money, enum, boolean, text),
   scored by how close they sit to the words of the attribute's name and description.

Candidates are then assigned greedily, best first, so that one span of text never feeds two
attributes (two dates in one email go to the attribute whose words are nearest).

Beyond the plain rules: dates are read as past unless the attribute asks for a day to come
('preferred_date', a day of a trip not told in the past); a pattern never matches inside a
longer date, amount or phone number, and one with a literal prefix ('ORD-\\d{6}') also finds
'654321' next to the attribute's words and restores the prefix; ordinals of the attribute's own
thing ('3rd floor') and numbers the description names ('0 for the ground floor') count as
numbers. A string without a pattern is found by what it is: a country for a country, a full
name (two or three capitalised words in the body) for a person's full name; else by its label.
Common date shapes are computed directly; dateparser only reads the rarer ones. A single-word
enum value that is also an everyday word ('may', 'new') is read in its context (_reads_as_value).
``values_before_intent`` is the stricter reading used while the intent is unknown.

The modules: :mod:`.finding` (``extract_values``, ``values_before_intent``) and
:mod:`.normalising` (``normalise_value``, ``values_equal``) are the entry points; :mod:`.registry`
names the finder of each attribute type; one module per value kind (:mod:`.strings`,
:mod:`.contacts`, :mod:`.dates`, :mod:`.money`, :mod:`.numbers`, :mod:`.enums`, :mod:`.booleans`,
:mod:`.free_text`) and :mod:`.labels`; :mod:`.context` and :mod:`.base` hold what they share.
"""
