// The interstitial's one job: run each configured provider, then continue to
// the second hop with what they said. Every provider reports once (a verdict
// or an error); the page moves on when all have, or when its wait is over.
(function () {
  var d = document.getElementById("sy").dataset;
  var query = {}, left = 0, done = false;
  function finish() {
    if (done) return;
    done = true;
    var url = d.next;
    for (var k in query) url += "&" + k + "=" + encodeURIComponent(query[k]);
    location.replace(url);
  }
  function report(key, value) {
    if (key in query || done) return;
    query[key] = value;
    if (--left === 0) finish();
  }
  function load(src, onerror) {
    var s = document.createElement("script");
    s.async = true;
    s.src = src;
    s.onerror = onerror;
    document.head.appendChild(s);
    return s;
  }
  if (d.adscoreZone) {
    left++;
    var a = load(d.adscoreSrc, function () { report("adscore_error", "load"); });
    a.onload = function () {
      try {
        AdscoreInit(d.adscoreZone, {
          callback: function (r) {
            if (r && r.signature) report("adscore", r.signature);
            else report("adscore_error", String((r && r.error) || "no_signature"));
          }
        });
      } catch (e) {
        report("adscore_error", "init");
      }
    };
  }
  if (d.anuraInstance) {
    left++;
    window.switchyardAnura = function (response) {
      try {
        report("anura", response.getId());
      } catch (e) {
        report("anura_error", "callback");
      }
    };
    var sep = d.anuraSrc.indexOf("?") < 0 ? "?" : "&";
    load(d.anuraSrc + sep + "instance=" + encodeURIComponent(d.anuraInstance) +
      "&callback=switchyardAnura&" + Math.floor(1e12 * Math.random() + 1),
      function () { report("anura_error", "load"); });
  }
  if (d.probe) {
    left++;
    var started = performance.now();
    fetch(d.probe, { mode: "no-cors", cache: "no-store", credentials: "omit" }).then(
      function () { report("latency_ms", Math.round(performance.now() - started)); },
      function () { report("latency_error", "probe"); });
  }
  if (left === 0) finish();
  setTimeout(finish, Number(d.waitMs));
})();
