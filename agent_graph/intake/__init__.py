"""Intake: raw RFC 5322 / MIME bytes in, a typed inbound email out, and back.

Pure functions, no database. :mod:`.parsing` reads an email (:func:`~.parsing.parse_email`),
:mod:`.automatic` tells mail sent by a machine, :mod:`.new_text` separates the customer's new text
from quoted history and signatures, and :mod:`.building` writes an email (the inverse, used by the
replay runner and the outbox). :mod:`.message` holds the typed email and the subject rules;
:mod:`.headers` the header reading both ways share.
"""
