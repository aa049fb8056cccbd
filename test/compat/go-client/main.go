// The AWS SDK for Go v2 through the proxy: PutObject/GetObject with the SDK's default checksums, the
// feature/s3/manager Uploader and Downloader (ranged GETs from bytes=0-5242879), and the newer
// feature/s3/transfermanager (uploads, downloads by part number and by range, streaming GetObject).
//
// Run by test/compat/sdk-clients.test.ts with PROXY_ENDPOINT and BUCKET in the environment; built by
// scripts/build-sdk-clients.sh. Prints one line per check and exits 1 if any failed.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"
)

const MiB = 1024 * 1024

// pattern is the same position-dependent test data as test/compat/patterns.py.
func pattern(length int, seed int) []byte {
	out := make([]byte, 0, length+32)
	for counter := 0; len(out) < length; counter++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%d:%d", seed, counter)))
		out = append(out, sum[:]...)
	}
	return out[:length]
}

type run struct {
	failures int
}

func (r *run) check(name string, err error) bool {
	if err != nil {
		r.failures++
		fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", name, err)
		return false
	}
	fmt.Printf("ok %s\n", name)
	return true
}

func same(got, want []byte) error {
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%d bytes back, %d expected, content differs", len(got), len(want))
	}
	return nil
}

// sdkLog keeps what the SDK logs, to see whether it validated a response checksum.
type sdkLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *sdkLog) Logf(classification logging.Classification, format string, v ...interface{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, fmt.Sprintf(string(classification)+" "+format, v...))
}

// take returns what was logged since the last call.
func (l *sdkLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := strings.Join(l.entries, "\n")
	l.entries = nil
	return out
}

const notValidating = "Response has no supported checksum. Not validating"

// checksums: GetObject validates the full-object checksum the proxy returns for objects PutObject stored
// with the SDK's default CRC32 header; a ranged GET carries none (the SDK then says it is not validating).
func checksums(ctx context.Context, r *run, client *s3.Client, log *sdkLog, bucket string) {
	for _, size := range []int{0, 3, 1024, 65537} {
		data := pattern(size, size+7)
		key := fmt.Sprintf("checksum/%d", size)
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
		if !r.check("PutObject "+key, err) {
			continue
		}
		log.take()
		got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err == nil {
			var body []byte
			body, err = io.ReadAll(got.Body)
			if err == nil {
				err = same(body, data)
			}
			if err == nil && (got.ChecksumCRC32 == nil || got.ChecksumType != s3types.ChecksumTypeFullObject) {
				err = fmt.Errorf("no full-object CRC32 in the response (type %q)", got.ChecksumType)
			}
			if logged := log.take(); err == nil && strings.Contains(logged, notValidating) {
				err = fmt.Errorf("the SDK did not validate: %s", logged)
			}
		}
		r.check("GetObject validated by its CRC32 "+key, err)
		if size < 10 {
			continue
		}
		ranged, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: aws.String("bytes=1-8")})
		if err == nil {
			_, err = io.ReadAll(ranged.Body)
			if err == nil && ranged.ChecksumCRC32 != nil {
				err = fmt.Errorf("a ranged GET carries the full-object checksum %s", *ranged.ChecksumCRC32)
			}
			if logged := log.take(); err == nil && !strings.Contains(logged, notValidating) {
				err = fmt.Errorf("the SDK's log did not say it skipped validation: %q", logged)
			}
		}
		r.check("ranged GetObject carries no checksum "+key, err)
	}
}

func main() {
	ctx := context.Background()
	bucket := os.Getenv("BUCKET")
	log := &sdkLog{}
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(os.Getenv("PROXY_ENDPOINT")),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDGOCLIENT", "go-client-secret", ""),
		Logger:       log,
		// What config.LoadDefaultConfig gives every client (s3.New alone leaves both unset).
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	})
	r := &run{}
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	if !r.check("CreateBucket", err) {
		os.Exit(1)
	}
	if os.Getenv("CHECKS") == "checksums" {
		checksums(ctx, r, client, log, bucket)
		fmt.Printf("go sdk: %d failures\n", r.failures)
		if r.failures > 0 {
			os.Exit(1)
		}
		return
	}

	// PutObject and GetObject with the default request and response checksum settings.
	for _, size := range []int{0, 3, 1024, 65537} {
		data := pattern(size, size)
		key := fmt.Sprintf("put/%d", size)
		_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
		if !r.check("PutObject "+key, err) {
			continue
		}
		got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if r.check("GetObject "+key, err) {
			body, err := io.ReadAll(got.Body)
			if err == nil {
				err = same(body, data)
			}
			r.check("GetObject body "+key, err)
		}
		// The Downloader starts with bytes=0-5242879 even on empty and tiny objects (COMPAT 10).
		buffer := manager.NewWriteAtBuffer(nil)
		_, err = manager.NewDownloader(client).Download(ctx, buffer, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err == nil {
			err = same(buffer.Bytes(), data)
		}
		r.check("manager.Downloader "+key, err)
	}

	// feature/s3/manager: a 17 MiB multipart upload in 5 MiB parts, downloaded in 5 MiB ranges.
	big := pattern(17*MiB, 17)
	key := "manager/17MiB"
	uploader := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize = 5 * MiB })
	_, err = uploader.Upload(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(big)})
	if r.check("manager.Uploader "+key, err) {
		buffer := manager.NewWriteAtBuffer(nil)
		_, err = manager.NewDownloader(client, func(d *manager.Downloader) { d.PartSize = 5 * MiB }).
			Download(ctx, buffer, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err == nil {
			err = same(buffer.Bytes(), big)
		}
		r.check("manager.Downloader "+key, err)
	}

	// feature/s3/transfermanager: uploads (multipart above 8 MiB), downloads by part number and by range.
	tm := transfermanager.New(client)
	for _, size := range []int{1024, 17 * MiB} {
		data := pattern(size, size+1)
		key := fmt.Sprintf("transfermanager/%d", size)
		_, err := tm.UploadObject(ctx, &transfermanager.UploadObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
		if !r.check("transfermanager.UploadObject "+key, err) {
			continue
		}
		for _, kind := range []tmtypes.GetObjectType{tmtypes.GetObjectParts, tmtypes.GetObjectRanges} {
			buffer := manager.NewWriteAtBuffer(nil)
			_, err := tm.DownloadObject(ctx, &transfermanager.DownloadObjectInput{Bucket: &bucket, Key: &key, WriterAt: buffer},
				func(o *transfermanager.Options) { o.GetObjectType = kind; o.PartSizeBytes = 5 * MiB })
			if err == nil {
				err = same(buffer.Bytes(), data)
			}
			r.check(fmt.Sprintf("transfermanager.DownloadObject (%s) %s", kind, key), err)

			got, err := tm.GetObject(ctx, &transfermanager.GetObjectInput{Bucket: &bucket, Key: &key},
				func(o *transfermanager.Options) { o.GetObjectType = kind; o.PartSizeBytes = 5 * MiB })
			if err == nil {
				var body []byte
				body, err = io.ReadAll(got.Body)
				if err == nil {
					err = same(body, data)
				}
			}
			r.check(fmt.Sprintf("transfermanager.GetObject (%s) %s", kind, key), err)
		}
	}

	fmt.Printf("go sdk: %d failures\n", r.failures)
	if r.failures > 0 {
		os.Exit(1)
	}
}
