// Golden files for the flow-related xDS: test/testdata/observe/<case>.in.yaml translated as the node agent does
// with flows on (its access log service at 127.0.0.1:4246, the L7 lines' flow fields), compared with
// <case>.out.yaml (WEFT_UPDATE_GOLDEN=1 rewrites).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { projectRoot } from '../envoy/binary.js';
import { translationReport } from '../src/cli/translate.js';
import { translateYaml } from '../src/standalone/pipeline.js';
import { matchGolden } from './helpers/golden.js';

const DIR = path.join(projectRoot(), 'test', 'testdata', 'observe');
const cases = readdirSync(DIR).filter((n) => n.endsWith('.in.yaml')).map((n) => n.slice(0, -'.in.yaml'.length)).sort();

for (const name of cases) {
  test(`golden: ${name}`, (t) => {
    const inFile = `${name}.in.yaml`;
    const translation = translateYaml(inFile, readFileSync(path.join(DIR, inFile), 'utf8'), { accessLogService: { address: '127.0.0.1', port: 4246 }, l7: { accessLogPath: '/var/log/weft/l7.log', accessLogForFlows: true } });
    matchGolden(t, path.join(DIR, `${name}.out.yaml`), stringify(translationReport(translation, 'all'), { lineWidth: 0 }));
  });
}

test('L7 policy listeners log to their file only; its line carries the flow fields only with flows on', (t) => {
  const text = readFileSync(path.join(DIR, 'l7-flows.in.yaml'), 'utf8');
  const report = (l7: { accessLogForFlows?: boolean }): string =>
    stringify(translationReport(translateYaml('x.yaml', text, { accessLogService: { address: '127.0.0.1', port: 4246 }, l7: { accessLogPath: '/var/log/weft/l7.log', ...l7 } }), 'all'), { lineWidth: 0 });
  const withFlows = report({ accessLogForFlows: true });
  const without = report({});
  for (const r of [withFlows, without]) {
    t.notRegex(r, /http_grpc|access-log-service/);
    t.regex(r, /envoy\.access_loggers\.file/);
  }
  t.regex(withFlows, /%COMMON_DURATION\(DS_RX_BEG:DS_TX_END:us\)%/);
  t.regex(withFlows, /destination_address:[\s\S]*%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%/);
  t.notRegex(without, /%COMMON_DURATION|%DOWNSTREAM_LOCAL_ADDRESS/);
});
