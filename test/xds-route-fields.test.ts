// src/xds/translator/http-routes.ts writes Route messages field by field with the numbers route-fields.ts names, and
// cluster-resources.ts the endpoints and a Cluster's name: each must be the protos' number for that field, and the
// enum values the protos' values.
import test from 'ava';
import protobuf from 'protobufjs';
import { messageType } from '../src/xds/protos.js';
import { CLUSTER_FIELDS } from '../src/xds/translator/cluster-resources.js';
import { HEADER_APPEND_ACTION, REDIRECT_RESPONSE_CODE, ROUTE_FIELDS } from '../src/xds/translator/route-fields.js';

test('every field number route-fields.ts and cluster-resources.ts name is the protos’ number for that field', (t) => {
  let checked = 0;
  for (const [typeName, fields] of [...Object.entries(ROUTE_FIELDS), ...Object.entries(CLUSTER_FIELDS)]) {
    const type = messageType(typeName);
    for (const [name, id] of Object.entries(fields)) {
      t.is(type.fields[name]?.id, id, `${typeName}.${name}`);
      checked++;
    }
  }
  t.true(checked > 50, `only ${checked} fields checked`);
});

test('the header append actions are the protos’ enum values', (t) => {
  const option = messageType('envoy.config.core.v3.HeaderValueOption');
  const actions = (option.fields.append_action.resolve().resolvedType as protobuf.Enum).values;
  for (const [name, value] of Object.entries(HEADER_APPEND_ACTION)) t.is(actions[name], value, name);
});

test('the redirect response codes are the protos’ enum values', (t) => {
  const redirect = messageType('envoy.config.route.v3.RedirectAction');
  const codes = (redirect.fields.response_code.resolve().resolvedType as protobuf.Enum).values;
  t.deepEqual(Object.keys(REDIRECT_RESPONSE_CODE).sort(), Object.keys(codes).sort());
  for (const [name, value] of Object.entries(REDIRECT_RESPONSE_CODE)) t.is(codes[name], value, name);
});
