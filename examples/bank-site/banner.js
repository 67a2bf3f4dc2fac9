// The example bank's consent banner, built on the SDK's own calls: it shows where no choice applies
// yet (an opt-in country without a recorded choice or a CMP answer), records the visitor's choice
// with personify.consent.set, and offers personify.optOut.
(function () {
  var banner = document.getElementById('consent-banner');
  var statusLine = document.getElementById('personify-status');

  function show(status) {
    var c = status.consent;
    statusLine.textContent = c
      ? 'personalise: ' + (c.personalize ? 'yes' : 'no') + ' (' + c.basis + ')'
      : 'personify: defaults (' + (status.reason || 'no answer') + ')';
  }
  function choose(purposes) {
    banner.hidden = true;
    window.personify.consent
      .set(purposes, { source: 'banner' })
      .then(function () { show(window.personify.status()); })
      .catch(function () { banner.hidden = false; });
  }
  // The SDK loads async: it may have settled before this script runs (then `personify.ready` has the
  // outcome) or settle later (then the event does).
  var seen = false;
  function ready(s) {
    if (seen) return;
    seen = true;
    show(s);
    var undecided = s.consent && s.consent.basis === 'jurisdiction_opt_in' && !s.stored.visitor_id;
    if (undecided) banner.hidden = false;
  }
  document.addEventListener('personify:ready', function (e) { ready(e.detail); });
  if (window.personify && window.personify.ready) window.personify.ready.then(ready);
  document.addEventListener('personify:decision', function () { show(window.personify.status()); });
  document.getElementById('consent-accept').addEventListener('click', function () {
    choose({ personalize: true, measure: true, advertise: false });
  });
  document.getElementById('consent-reject').addEventListener('click', function () {
    choose({ personalize: false, measure: false, advertise: false });
  });
  document.getElementById('privacy-settings').addEventListener('click', function () { banner.hidden = false; });
  document.getElementById('opt-out').addEventListener('click', function () {
    if (window.personify) window.personify.optOut().then(function () { show(window.personify.status()); }, function () {});
  });
})();
