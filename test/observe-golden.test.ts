// Golden files for the flow-related xDS: test/testdata/observe/<case>.in.yaml translated with the node
// agent's access log service at 127.0.0.1:4246, compared with <case>.out.yaml (WEFT_UPDATE_GOLDEN=1 rewrites).
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
    const translation = translateYaml(inFile, readFileSync(path.join(DIR, inFile), 'utf8'), { l7: { accessLogPath: '/var/log/weft/l7.log', accessLogService: { address: '127.0.0.1', port: 4246 } } });
    matchGolden(t, path.join(DIR, `${name}.out.yaml`), stringify(translationReport(translation, 'all'), { lineWidth: 0 }));
  });
}

test('without an access log service, no gRPC access log and no cluster for it', (t) => {
  const text = readFileSync(path.join(DIR, 'access-log-service.in.yaml'), 'utf8');
  const report = stringify(translationReport(translateYaml('x.yaml', text, { l7: { accessLogPath: '/var/log/weft/l7.log' } }), 'all'), { lineWidth: 0 });
  t.notRegex(report, /http_grpc|access-log-service/);
  t.regex(report, /envoy\.access_loggers\.file/);
});
