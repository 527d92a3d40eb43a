"""``case-agent eval-intents``: the offline intent classifier measured on public intent datasets.

Modules: :mod:`.datasets` (the loaders, the DSTC11 split, the ``--shots`` sample), :mod:`.scoring`
(a catalog from a training split, fitting, scoring, the figures), :mod:`.selection` (the settings
grid and the threshold rule, on validation only), :mod:`.report` (the run, its report and table),
:mod:`.calibration` (fitting the confidence weights of ``brain.intent.CALIBRATION``) and
:mod:`.choices` (the command-line choices, importable without numpy or scikit-learn).
Measurement only: the agent itself never imports this package (the command line imports it for
``eval-intents``).

The method (docs/intent-eval.md has the figures and the commands):

1. **Catalog from the training split.** Each intent's training sentences become the ``examples``
   of one :class:`~agent_graph.catalog.Intent` (its ``name`` is the label in words) in a
   :class:`~agent_graph.catalog.Catalog` held in memory, and the classifier is
   :meth:`IntentClassifier.from_catalog` - the code path the agent uses on a real catalog. With
   ``shots``, ``shots`` training sentences per intent are kept (seeded sample).
2. **Choices on the validation split only.** For every candidate of the settings grid
   (:func:`default_grid`: linear SVM C 2 or logistic regression C 30; the sentence embedding at
   weight 0, 1 or 2 beside the n-grams; long texts segmented as emails or scored whole; for
   CLINC150, with or without an out-of-scope intent), the classifier
   is fitted on train and scored on validation; the threshold is chosen there by a rule fixed in
   advance (:func:`choose_threshold`), and the candidate with the best validation macro-F1 at its
   threshold wins. The test split is not read by any of this: :func:`select` gets the training
   rows and the validation rows only.
3. **Report on the test split** at the chosen settings and threshold: in-scope accuracy, out-of-scope
   recall and precision (CLINC150's ``oos``), macro-F1, training time, median and p99 time of one
   ``predict`` call, and peak memory. With ``refit``, the chosen setting is first fitted again on
   train + validation (nothing is chosen again).

Datasets (``shared/datasets/*/README.md``):

* ``clinc150``: its train/val/test splits; out-of-scope rows are ``"intent": "oos"``. The 100
  out-of-scope training sentences either go unused or become one more catalog intent,
  ``out_of_scope`` (a prediction of it is a rejection) - which of the two is a setting chosen on
  validation. ``--shots`` samples the 150 intents; the out-of-scope sentences are kept whole.
* ``banking77``: the README's train/val/test (val = 10 % of the official train, test = the
  official test). No out-of-scope class: the threshold is 0 (a rejection could only be wrong).
* ``dstc11``: no train split in the source. :func:`load_dstc11` splits each domain's rows per
  intent, seeded (:data:`DSTC11_SPLIT_SEED`, independent of ``--seed``) and stratified: 60 % train,
  20 % val, 20 % test (rounded, at least one row in each of val and test). The three domains are
  three separate inventories, so each becomes its own one-LOB catalog and classifier; settings are
  chosen on the pooled validation rows of the three, figures are pooled over the three test sets
  (and given per domain), training time is the sum of the three.

Definitions: a test row is *predicted* as its top-ranked intent when the confidence reaches the
threshold (and the top intent is not ``out_of_scope``), else as out-of-scope. ``in_scope_accuracy``
is the fraction of in-scope rows predicted as their intent (a rejection counts as wrong);
``oos_recall`` the fraction of out-of-scope rows rejected; ``oos_precision`` the fraction of
rejections that are out-of-scope rows; ``macro_f1`` the unweighted mean F1 over the gold classes
(out-of-scope included as one class). Times are wall-clock milliseconds of one
``IntentClassifier.predict`` call on one test sentence (a seeded sample of up to
:data:`LATENCY_SAMPLE` sentences, after a warm-up), and the median CPU time of the calling thread
in such a call (on a busy machine the wall-clock time also counts the waits for a core). ``peak_memory_mb`` is how much the process's
peak resident set size (``getrusage`` ``ru_maxrss``) grew during the run - loading the data,
fitting every candidate, scoring; ``peak_rss_mb`` is that peak itself; ``classifier_mb`` the
approximate size of the chosen fitted classifier (its arrays and vocabularies).
"""
