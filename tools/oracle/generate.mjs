// Generates tests/fixtures/consent_strings.json with the IAB Tech Lab's own encoders, offline.
//
//   cd tools/oracle && npm ci && node generate.mjs
//
// TCF 2.2 shape: @iabtcf/core; TCF 2.3 shape (DisclosedVendors segment): @iabtechlabtcf/core;
// GPP and US privacy: @iabgpp/cmpapi. Each fixture holds the string, what it means in words, and the
// fields as the same library decodes them back — the oracle personify's decoders must agree with.
import { writeFileSync } from 'node:fs';
import * as tcf22 from '@iabtcf/core';
import * as tcf23 from '@iabtechlabtcf/core';
import { GppModel } from '@iabgpp/cmpapi';

const ALL_PURPOSES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const VENDOR_IDS = [...Array.from({ length: 40 }, (_, i) => i + 1), 97, 755, 1201];

/** A local Global Vendor List: every vendor may use every purpose on consent, 2-11 flexibly. */
function gvlJson(tcfPolicyVersion) {
  const named = (ids) => Object.fromEntries(ids.map((id) => [id, { id, name: `Purpose ${id}`, description: '', illustrations: [] }]));
  const vendors = Object.fromEntries(VENDOR_IDS.map((id) => [id, {
    id, name: `Vendor ${id}`, purposes: ALL_PURPOSES, legIntPurposes: [], flexiblePurposes: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    specialPurposes: [], features: [], specialFeatures: [1, 2], cookieMaxAgeSeconds: 0, usesCookies: false,
    usesNonCookieAccess: false, deviceStorageDisclosureUrl: '', dataRetention: { stdRetention: 30, purposes: {}, specialPurposes: {} },
    dataDeclaration: [1], urls: [{ langId: 'en', privacy: 'https://vendor.example/privacy' }],
  }]));
  return {
    gvlSpecificationVersion: 3, vendorListVersion: 150, tcfPolicyVersion, lastUpdated: '2026-11-01T16:00:00Z',
    purposes: named(ALL_PURPOSES), specialPurposes: named([1, 2, 3]), features: named([1, 2, 3]),
    specialFeatures: named([1, 2]), stacks: {}, dataCategories: named([1]), vendors,
  };
}

function bits(vector) {
  const out = [];
  vector.forEach((has, id) => { if (has) out.push(id); });
  return out.sort((a, b) => a - b);
}

function decodedFields(lib, s) {
  const m = lib.TCString.decode(s);
  const restrictions = [];
  const seen = new Set();
  for (const r of m.publisherRestrictions.getRestrictions()) {
    const key = `${r.purposeId}-${r.restrictionType}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const vendors = m.publisherRestrictions.getVendors(r).slice().sort((a, b) => a - b);
    restrictions.push({ purpose: r.purposeId, restriction_type: r.restrictionType, vendors });
  }
  restrictions.sort((a, b) => a.purpose - b.purpose || a.restriction_type - b.restriction_type);
  return {
    version: m.version,
    created: Math.round(m.created.getTime() / 100),
    last_updated: Math.round(m.lastUpdated.getTime() / 100),
    cmp_id: m.cmpId,
    cmp_version: m.cmpVersion,
    consent_screen: m.consentScreen,
    consent_language: m.consentLanguage,
    vendor_list_version: m.vendorListVersion,
    tcf_policy_version: m.policyVersion,
    is_service_specific: m.isServiceSpecific,
    use_non_standard_texts: m.useNonStandardTexts ?? m.useNonStandardStacks,
    special_feature_optins: bits(m.specialFeatureOptins),
    purposes_consent: bits(m.purposeConsents),
    purposes_li_transparency: bits(m.purposeLegitimateInterests),
    purpose_one_treatment: m.purposeOneTreatment,
    publisher_cc: m.publisherCountryCode,
    vendor_consents: bits(m.vendorConsents),
    vendor_legitimate_interests: bits(m.vendorLegitimateInterests),
    publisher_restrictions: restrictions,
    disclosed_vendors: s.split('.').some((seg) => seg.startsWith('I')) ? bits(m.vendorsDisclosed) : null,
    publisher_purposes_consent: s.split('.').some((seg) => seg.startsWith('Y') || seg.startsWith('Z') || seg.startsWith('a') || seg.startsWith('b') || seg.startsWith('c') || seg.startsWith('d') || seg.startsWith('e') || seg.startsWith('f')) ? bits(m.publisherConsents) : null,
  };
}

async function tcString(lib, policyVersion, spec) {
  const gvl = new lib.GVL(gvlJson(policyVersion));
  await gvl.readyPromise;
  const tc = new lib.TCModel(gvl);
  tc.cmpId = spec.cmpId ?? 31;
  tc.cmpVersion = spec.cmpVersion ?? 4;
  tc.consentScreen = 2;
  tc.consentLanguage = spec.language ?? 'EN';
  tc.publisherCountryCode = spec.publisherCC ?? 'GB';
  tc.isServiceSpecific = true;
  tc.purposeOneTreatment = spec.purposeOneTreatment ?? false;
  tc.created = new Date('2026-11-20T10:00:00Z');
  tc.lastUpdated = new Date('2026-11-21T08:30:00Z');
  tc.purposeConsents.set(spec.purposes ?? []);
  tc.purposeLegitimateInterests.set(spec.legitimateInterests ?? []);
  tc.specialFeatureOptins.set(spec.specialFeatures ?? []);
  tc.vendorConsents.set(spec.vendors ?? []);
  tc.vendorLegitimateInterests.set(spec.vendorLegitimateInterests ?? []);
  if (spec.publisherPurposes) tc.publisherConsents.set(spec.publisherPurposes);
  for (const r of spec.restrictions ?? []) {
    tc.publisherRestrictions.add(r.vendor, new lib.PurposeRestriction(r.purpose, r.type));
  }
  const segments = [lib.Segment.CORE];
  if (spec.disclosed) { tc.vendorsDisclosed.set(spec.disclosed); segments.push(lib.Segment.VENDORS_DISCLOSED); }
  if (spec.publisherPurposes) segments.push(lib.Segment.PUBLISHER_TC);
  const s = lib.TCString.encode(tc, { segments, isForVendors: false });
  return { string: s, fields: decodedFields(lib, s) };
}

const tcfSpecs = [
  { name: 'full_consent', meaning: 'Every purpose 1-11 and vendors 1-40, 97, 755, 1201 consented: personify gets personalize (contextual and session-based), measure and advertise (contextual and session-based).',
    purposes: ALL_PURPOSES, specialFeatures: [1], vendors: VENDOR_IDS },
  { name: 'refuse_all', meaning: 'The visitor refused everything: no purpose, no vendor. personify gets nothing.', purposes: [], vendors: [] },
  { name: 'contextual_only', meaning: 'Purposes 1, 2, 7, 8, 11: contextual content and contextual ad buckets and measurement, no profiles (3-6 refused).',
    purposes: [1, 2, 7, 8, 11], vendors: [1, 2, 3, 755] },
  { name: 'no_storage', meaning: 'Everything but purpose 1 (storage on the device): visitor_id must be ignored, the cookieless key used.',
    purposes: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], vendors: [1, 2, 3] },
  { name: 'profiles_no_ads', meaning: 'Purposes 1, 5, 6, 9: session-based content and measurement (9), no advertising purposes.',
    purposes: [1, 5, 6, 9], legitimateInterests: [7, 10], vendors: [5, 6, 7], vendorLegitimateInterests: [5] },
  { name: 'vendor_restricted', meaning: 'All purposes and vendors consented, but publisher restrictions: purpose 2 not allowed for vendor 755, purpose 3 requires legitimate interest for vendors 755 and 97, purpose 5 requires consent for vendor 1201.',
    purposes: ALL_PURPOSES, vendors: VENDOR_IDS,
    restrictions: [{ vendor: 755, purpose: 2, type: 0 }, { vendor: 755, purpose: 3, type: 2 }, { vendor: 97, purpose: 3, type: 2 }, { vendor: 1201, purpose: 5, type: 1 }] },
  { name: 'sparse_vendors', meaning: 'Purposes 1-4 for a sparse vendor set 1, 2, 3, 755, 1201 (range encoding is shorter).', purposes: [1, 2, 3, 4], vendors: [1, 2, 3, 755, 1201] },
  { name: 'publisher_tc', meaning: 'Core purposes 1, 11 plus a Publisher TC segment granting publisher purposes 1, 5, 6.', purposes: [1, 11], vendors: [1], publisherPurposes: [1, 5, 6] },
];

const fixtures = { generated_by: 'tools/oracle/generate.mjs', tcf: [], gpp: [], us_privacy: [] };
for (const spec of tcfSpecs) {
  const v22 = await tcString(tcf22, 4, spec);
  fixtures.tcf.push({ name: `${spec.name}_v2_2`, shape: 'TCF 2.2 (@iabtcf/core)', meaning: spec.meaning, ...v22 });
  const v23 = await tcString(tcf23, 5, { ...spec, disclosed: spec.disclosed ?? VENDOR_IDS });
  fixtures.tcf.push({ name: `${spec.name}_v2_3`, shape: 'TCF 2.3 with DisclosedVendors (@iabtechlabtcf/core)', meaning: spec.meaning, ...v23 });
}

function gpp(build) {
  const model = new GppModel();
  build(model);
  return model.encode();
}

const gppSpecs = [
  { name: 'usnat_sale_opt_out', meaning: 'usnat v1: notices given, opted out of sale (SaleOptOut = 1): advertise denied.', opt_out: true,
    build: (a) => { a.setFieldValue('usnat', 'SaleOptOutNotice', 1); a.setFieldValue('usnat', 'SaleOptOut', 1); a.setFieldValue('usnat', 'SharingOptOut', 2); a.setFieldValue('usnat', 'TargetedAdvertisingOptOut', 2); } },
  { name: 'usnat_targeted_ads_opt_out', meaning: 'usnat: opted out of targeted advertising only (TargetedAdvertisingOptOut = 1): advertise denied.', opt_out: true,
    build: (a) => { a.setFieldValue('usnat', 'SaleOptOut', 2); a.setFieldValue('usnat', 'SharingOptOut', 2); a.setFieldValue('usnat', 'TargetedAdvertisingOptOut', 1); } },
  { name: 'usnat_no_opt_out', meaning: 'usnat: did not opt out of anything (all 2): everything allowed in an opt-out jurisdiction.', opt_out: false,
    build: (a) => { a.setFieldValue('usnat', 'SaleOptOut', 2); a.setFieldValue('usnat', 'SharingOptOut', 2); a.setFieldValue('usnat', 'TargetedAdvertisingOptOut', 2); } },
  { name: 'usnat_gpc', meaning: 'usnat with the GPC subsection set (Gpc = true) and no explicit opt-out: advertise denied.', opt_out: true,
    build: (a) => { a.setFieldValue('usnat', 'SaleOptOut', 2); a.setFieldValue('usnat', 'SharingOptOut', 2); a.setFieldValue('usnat', 'TargetedAdvertisingOptOut', 2); a.setFieldValue('usnat', 'GpcSegmentIncluded', true); a.setFieldValue('usnat', 'Gpc', true); } },
  { name: 'usca_sharing_opt_out', meaning: 'California section: opted out of sharing (SharingOptOut = 1): advertise denied.', opt_out: true,
    build: (a) => { a.setFieldValue('usca', 'SaleOptOut', 2); a.setFieldValue('usca', 'SharingOptOut', 1); } },
  { name: 'usva_no_opt_out', meaning: 'Virginia section: no opt-out: everything allowed in an opt-out jurisdiction.', opt_out: false,
    build: (a) => { a.setFieldValue('usva', 'SaleOptOut', 2); a.setFieldValue('usva', 'TargetedAdvertisingOptOut', 2); } },
  { name: 'uspv1_opt_out', meaning: 'uspv1 section 1YYN inside GPP: opted out of sale.', opt_out: true,
    build: (a) => { a.setFieldValue('uspv1', 'Notice', 'Y'); a.setFieldValue('uspv1', 'OptOutSale', 'Y'); a.setFieldValue('uspv1', 'LspaCovered', 'N'); } },
];
for (const spec of gppSpecs) {
  const s = gpp(spec.build);
  fixtures.gpp.push({ name: spec.name, meaning: spec.meaning, string: s, us_opt_out: spec.opt_out, section_ids: decodeIds(s) });
}
// A GPP string carrying a TCF EU v2 section: personify decodes that section with its own decoder.
{
  const full = fixtures.tcf.find((f) => f.name === 'contextual_only_v2_2');
  const model = new GppModel();
  model.decodeSection('tcfeuv2', full.string.split('.')[0]);
  const s = model.encode();
  fixtures.gpp.push({ name: 'tcfeuv2_contextual_only', meaning: 'A GPP string whose only section is the TCF EU v2 core of contextual_only: purposes 1, 2, 7, 8, 11.', string: s, us_opt_out: false, section_ids: decodeIds(s), tcf_purposes: [1, 2, 7, 8, 11] });
}

function decodeIds(s) {
  return new GppModel(s).getSectionIds().slice().sort((a, b) => a - b);
}

for (const [s, meaning, opt_out] of [['1YYN', 'notice given, opted out of sale, not LSPA-covered', true], ['1YNN', 'notice given, not opted out', false], ['1NNY', 'no notice, not opted out, LSPA-covered', false], ['1---', 'CCPA does not apply', false]]) {
  fixtures.us_privacy.push({ string: s, meaning, opt_out_sale: opt_out });
}

writeFileSync(new URL('../../tests/fixtures/consent_strings.json', import.meta.url), JSON.stringify(fixtures, null, 2) + '\n');
console.log(`wrote ${fixtures.tcf.length} TC strings, ${fixtures.gpp.length} GPP strings, ${fixtures.us_privacy.length} US privacy strings`);
